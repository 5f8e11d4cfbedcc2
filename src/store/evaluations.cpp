#include "evaluations.hpp"

#include <cstddef>
#include <cstring>
#include <nlohmann/json.hpp>

#include "checksum.hpp"
#include "clrp/util/error.hpp"

namespace clrp::store {

const char* const kOutcomeNames[kOutcomes] = {"correct", "failure_with_pair", "failure_no_pair",
                                              "error"};

namespace evaluations {

namespace {

// One row of `evaluations` as it sits in memory and in the file. Fields are
// ordered widest first, so the struct has no padding and its compound type
// is exactly these members at these offsets.
struct Row {
  std::uint64_t id_offset, detail_offset;
  std::uint32_t id_length, detail_length;
  std::uint32_t item_index;
  std::int32_t outcome;
  std::int32_t correct_per_char;
  std::uint32_t prompt_tokens, generated_tokens;
  std::int32_t wrong_id, correct_id, pair_position;
  std::int32_t rank;
  std::int32_t reserved;  ///< 0; keeps the doubles after it 8-aligned
  double wrong_logit, correct_logit, delta, seconds;
};
static_assert(sizeof(Row) == kRowBytes, "evaluations rows are 96 bytes, no padding");

}  // namespace

hid_t row_type() {
  static const hid_t type = [] {
    const hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(Row));
#define CLRP_COLUMN(name, h5type) H5Tinsert(t, #name, offsetof(Row, name), h5type)
    CLRP_COLUMN(id_offset, H5T_NATIVE_UINT64);
    CLRP_COLUMN(detail_offset, H5T_NATIVE_UINT64);
    CLRP_COLUMN(id_length, H5T_NATIVE_UINT32);
    CLRP_COLUMN(detail_length, H5T_NATIVE_UINT32);
    CLRP_COLUMN(item_index, H5T_NATIVE_UINT32);
    CLRP_COLUMN(outcome, H5T_NATIVE_INT32);
    CLRP_COLUMN(correct_per_char, H5T_NATIVE_INT32);
    CLRP_COLUMN(prompt_tokens, H5T_NATIVE_UINT32);
    CLRP_COLUMN(generated_tokens, H5T_NATIVE_UINT32);
    CLRP_COLUMN(wrong_id, H5T_NATIVE_INT32);
    CLRP_COLUMN(correct_id, H5T_NATIVE_INT32);
    CLRP_COLUMN(pair_position, H5T_NATIVE_INT32);
    CLRP_COLUMN(rank, H5T_NATIVE_INT32);
    CLRP_COLUMN(reserved, H5T_NATIVE_INT32);
    CLRP_COLUMN(wrong_logit, H5T_NATIVE_DOUBLE);
    CLRP_COLUMN(correct_logit, H5T_NATIVE_DOUBLE);
    CLRP_COLUMN(delta, H5T_NATIVE_DOUBLE);
    CLRP_COLUMN(seconds, H5T_NATIVE_DOUBLE);
#undef CLRP_COLUMN
    return t;
  }();
  return type;
}

namespace {

Row to_row(const EvaluationRecord& r, std::uint64_t id_offset, std::uint64_t detail_offset) {
  Row row{};
  row.id_offset = id_offset;
  row.detail_offset = detail_offset;
  row.id_length = static_cast<std::uint32_t>(r.case_id.size());
  row.detail_length = static_cast<std::uint32_t>(r.detail.size());
  row.item_index = r.item_index;
  row.outcome = static_cast<std::int32_t>(r.outcome);
  row.correct_per_char = r.correct_per_char;
  row.prompt_tokens = r.prompt_tokens;
  row.generated_tokens = r.generated_tokens;
  row.wrong_id = r.wrong_id;
  row.correct_id = r.correct_id;
  row.pair_position = r.pair_position;
  row.rank = r.rank;
  row.wrong_logit = r.wrong_logit;
  row.correct_logit = r.correct_logit;
  row.delta = r.delta;
  row.seconds = r.seconds;
  return row;
}

EvaluationRecord from_row(const Row& row, std::uint32_t table) {
  EvaluationRecord r;
  r.table = table;
  r.item_index = row.item_index;
  if (row.outcome < 0 || row.outcome >= kOutcomes)
    throw Error("store: an evaluation row has outcome " + std::to_string(row.outcome));
  r.outcome = static_cast<ItemOutcome>(row.outcome);
  r.correct_per_char = row.correct_per_char;
  r.prompt_tokens = row.prompt_tokens;
  r.generated_tokens = row.generated_tokens;
  r.wrong_id = row.wrong_id;
  r.correct_id = row.correct_id;
  r.pair_position = row.pair_position;
  r.rank = row.rank;
  r.wrong_logit = row.wrong_logit;
  r.correct_logit = row.correct_logit;
  r.delta = row.delta;
  r.seconds = row.seconds;
  return r;
}

void grow(hid_t dataset, hsize_t rows) {
  if (h5::rows(dataset) < rows) h5::set_rows(dataset, {}, rows);
}

}  // namespace

const char* const kCommittedAttrs[kKinds] = {
    "committed_evaluations", "committed_evaluation_id_bytes", "committed_evaluation_detail_bytes"};

Counts counts_of(const EvaluationRecord& r) {
  return {1, r.case_id.size(), r.detail.size()};
}

std::uint64_t bytes_of(const EvaluationRecord& r) {
  return sizeof(Row) + r.case_id.size() + r.detail.size();
}

Datasets Datasets::create(hid_t group, int deflate) {
  Datasets d;
  d.rows = h5::create_extendible(group, "evaluations", row_type(), {}, 256, deflate);
  d.ids = h5::create_extendible(group, "evaluation_id", H5T_NATIVE_UINT8, {}, 4096, deflate);
  d.detail =
      h5::create_extendible(group, "evaluation_detail", H5T_NATIVE_UINT8, {}, 65536, deflate);
  const std::vector<std::string> names(kOutcomeNames, kOutcomeNames + kOutcomes);
  h5::set_attr(group, "outcome_names", nlohmann::json(names).dump());
  write_committed(group, {0, 0, 0});
  return d;
}

Datasets Datasets::open(hid_t group, const std::string& where) {
  Datasets d;
  d.rows = h5::make(H5Dopen2(group, "evaluations", H5P_DEFAULT), H5Dclose, where + "/evaluations");
  d.ids =
      h5::make(H5Dopen2(group, "evaluation_id", H5P_DEFAULT), H5Dclose, where + "/evaluation_id");
  d.detail = h5::make(H5Dopen2(group, "evaluation_detail", H5P_DEFAULT), H5Dclose,
                      where + "/evaluation_detail");
  return d;
}

Counts Datasets::write(const std::vector<const EvaluationRecord*>& records, const Counts& first,
                       const Counts& end, hid_t dxpl) const {
  std::vector<Row> rows_out;
  std::vector<char> id_bytes, detail_bytes;
  std::uint64_t id_at = first[1], detail_at = first[2];
  for (const EvaluationRecord* r : records) {
    rows_out.push_back(to_row(*r, id_at, detail_at));
    id_bytes.insert(id_bytes.end(), r->case_id.begin(), r->case_id.end());
    detail_bytes.insert(detail_bytes.end(), r->detail.begin(), r->detail.end());
    id_at += r->case_id.size();
    detail_at += r->detail.size();
  }
  grow(rows, end[0]);
  h5::write_rows(rows, row_type(), {}, first[0], rows_out.size(), rows_out.data(), dxpl);
  grow(ids, end[1]);
  h5::write_rows(ids, H5T_NATIVE_UINT8, {}, first[1], id_bytes.size(), id_bytes.data(), dxpl);
  grow(detail, end[2]);
  h5::write_rows(detail, H5T_NATIVE_UINT8, {}, first[2], detail_bytes.size(), detail_bytes.data(),
                 dxpl);
  return {checksum::sum_rows(rows_out.data(), kRowBytes, first[0], rows_out.size()),
          checksum::sum_rows(id_bytes.data(), 1, first[1], id_bytes.size()),
          checksum::sum_rows(detail_bytes.data(), 1, first[2], detail_bytes.size())};
}

std::vector<EvaluationRecord> Datasets::read(std::uint32_t table, const Counts& committed) const {
  std::vector<Row> in(committed[0]);
  std::vector<char> id_bytes(committed[1]), detail_bytes(committed[2]);
  if (!in.empty()) h5::read_rows(rows, row_type(), {}, 0, in.size(), in.data());
  if (!id_bytes.empty())
    h5::read_rows(ids, H5T_NATIVE_UINT8, {}, 0, id_bytes.size(), id_bytes.data());
  if (!detail_bytes.empty())
    h5::read_rows(detail, H5T_NATIVE_UINT8, {}, 0, detail_bytes.size(), detail_bytes.data());
  std::vector<EvaluationRecord> out;
  out.reserve(in.size());
  for (const Row& row : in) {
    if (row.id_offset + row.id_length > id_bytes.size() ||
        row.detail_offset + row.detail_length > detail_bytes.size())
      throw Error("store: an evaluation row points past the committed id or detail bytes");
    EvaluationRecord r = from_row(row, table);
    r.case_id.assign(id_bytes.data() + row.id_offset, row.id_length);
    r.detail.assign(detail_bytes.data() + row.detail_offset, row.detail_length);
    out.push_back(std::move(r));
  }
  return out;
}

Counts read_committed(hid_t group) {
  Counts c{0, 0, 0};
  for (std::size_t k = 0; k < kKinds; ++k)
    if (h5::has_attr(group, kCommittedAttrs[k])) c[k] = h5::get_u64_attr(group, kCommittedAttrs[k]);
  return c;
}

void write_committed(hid_t group, const Counts& counts) {
  for (std::size_t k = 0; k < kKinds; ++k)
    h5::set_attr(group, kCommittedAttrs[k], counts[k]);
}

}  // namespace evaluations
}  // namespace clrp::store

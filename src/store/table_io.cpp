#include "table_io.hpp"

#include <nlohmann/json.hpp>

#include "clrp/util/error.hpp"
#include "h5.hpp"
#include "schema.hpp"

namespace clrp::store::table_io {

namespace {

std::vector<std::string> children(hid_t g) {
  H5G_info_t info;
  h5::check(H5Gget_info(g, &info), "group info");
  std::vector<std::string> out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[1024];
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    out.emplace_back(name);
  }
  return out;
}

}  // namespace

std::vector<std::string> table_groups(hid_t file) {
  std::vector<std::string> out;
  if (H5Lexists(file, "/runs", H5P_DEFAULT) <= 0) return out;
  // Tables sit exactly three levels below /runs: model, checkpoint, benchmark.
  std::vector<std::string> level{"/runs"};
  for (int depth = 0; depth < 3; ++depth) {
    std::vector<std::string> next;
    for (const auto& path : level) {
      h5::Id g = h5::make(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose, path);
      for (const auto& c : children(g))
        next.push_back(path + "/" + c);
    }
    level = std::move(next);
  }
  return level;
}

TableInfo read_table_info(hid_t group) {
  TableInfo t;
  t.model = h5::get_string_attr(group, "model");
  t.checkpoint = h5::get_string_attr(group, "checkpoint");
  t.benchmark = h5::get_string_attr(group, "benchmark");
  t.checkpoint_path = h5::get_string_attr(group, "checkpoint_path");
  t.rules =
      nlohmann::json::parse(h5::get_string_attr(group, "rules")).get<std::vector<std::string>>();
  t.layers = h5::get_i64_attr(group, "layers");
  t.heads = h5::get_i64_attr(group, "heads");
  t.neurons = h5::get_i64_attr(group, "neurons");
  t.evidence_top_k = h5::get_i64_attr(group, "evidence_top_k");
  // `residual` is only in the layout summary (it decides which datasets exist).
  const auto layout = nlohmann::json::parse(h5::get_string_attr(group, "layout"));
  t.residual = layout.at("residual").get<bool>();
  t.graphs = layout.value("graphs", false);
  t.deletion_max_tokens = layout.value("deletion_max_tokens", std::int64_t{0});
  if (h5::has_attr(group, "planned_rows")) t.planned_rows = h5::get_u64_attr(group, "planned_rows");
  return t;
}

Committed read_committed(hid_t group) {
  Committed c;
  c.rows = h5::get_u64_attr(group, "committed_rows");
  c.tokens = h5::get_u64_attr(group, "committed_tokens");
  c.id_bytes = h5::get_u64_attr(group, "committed_id_bytes");
  if (h5::has_attr(group, "failed_rows")) c.failed = h5::get_u64_attr(group, "failed_rows");
  c.graph_nodes = h5::get_u64_attr(group, schema::committed_attr(schema::Rows::GraphNode));
  c.graph_edges = h5::get_u64_attr(group, schema::committed_attr(schema::Rows::GraphEdge));
  return c;
}

std::vector<std::string> read_case_ids(hid_t group, const Committed& committed) {
  std::vector<schema::CaseRow> rows(committed.rows);
  h5::Id cases = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, "cases");
  h5::read_rows(cases, schema::case_row_type(), {}, 0, committed.rows, rows.data());
  std::vector<char> bytes(committed.id_bytes);
  h5::Id ids = h5::make(H5Dopen2(group, "case_id", H5P_DEFAULT), H5Dclose, "case_id");
  h5::read_rows(ids, H5T_NATIVE_UINT8, {}, 0, committed.id_bytes, bytes.data());
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (const auto& r : rows)
    out.emplace_back(bytes.data() + r.id_offset, r.id_length);
  return out;
}

std::vector<CaseRecord> read_records(hid_t group, const TableInfo& info, std::uint32_t table,
                                     std::uint64_t row0, std::uint64_t count) {
  std::vector<CaseRecord> out(count);
  if (count == 0) return out;
  std::vector<schema::CaseRow> rows(count);
  h5::Id cases = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, "cases");
  h5::read_rows(cases, schema::case_row_type(), {}, row0, count, rows.data());
  // The ids, tokens and graph nodes/edges of consecutive rows are contiguous
  // spans of their flat datasets; read each span once and cut it per case.
  using schema::Rows;
  auto span = [&](Rows kind) {
    std::uint64_t lo = schema::offset_of(kind, rows[0]), hi = lo;
    for (const auto& r : rows) {
      lo = std::min(lo, schema::offset_of(kind, r));
      hi = std::max(hi, schema::offset_of(kind, r) + schema::length_of(kind, r));
    }
    return std::pair{lo, hi};
  };
  const auto [id0, id1] = span(Rows::IdByte);
  std::vector<char> ids(id1 - id0);
  h5::Id id_ds = h5::make(H5Dopen2(group, "case_id", H5P_DEFAULT), H5Dclose, "case_id");
  h5::read_rows(id_ds, H5T_NATIVE_UINT8, {}, id0, id1 - id0, ids.data());
  for (std::size_t i = 0; i < count; ++i) {
    const auto& row = rows[i];
    CaseRecord& r = out[i];
    r.table = table;
    r.case_id.assign(ids.data() + (row.id_offset - id0), row.id_length);
    r.case_index = row.case_index;
    r.prompt_tokens = row.prompt_tokens;
    r.wrong_id = row.wrong_id;
    r.correct_id = row.correct_id;
    r.wrong_logit = row.wrong_logit;
    r.correct_logit = row.correct_logit;
    r.delta = row.delta;
    r.pair_delta = row.pair_delta;
    r.seconds_tokenize = row.seconds_tokenize;
    r.seconds_forward = row.seconds_forward;
    r.seconds_backward = row.seconds_backward;
    r.rank = row.rank;
  }
  for (const auto& d : schema::datasets(info)) {
    std::size_t per_row = d.element_size;
    for (auto t : d.trailing)
      per_row *= t;
    const bool ragged = d.rows != Rows::Case;
    const auto [lo, hi] = ragged ? span(d.rows) : std::pair{row0, row0 + count};
    std::vector<char> bytes((hi - lo) * per_row);
    h5::Id ds = h5::make(H5Dopen2(group, d.name.c_str(), H5P_DEFAULT), H5Dclose, d.name);
    h5::read_rows(ds, d.type, d.trailing, lo, hi - lo, bytes.data());
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t at = ragged ? schema::offset_of(d.rows, rows[i]) - lo : i;
      d.restore(bytes.data() + at * per_row, ragged ? schema::length_of(d.rows, rows[i]) : 1,
                out[i]);
    }
  }
  return out;
}

}  // namespace clrp::store::table_io

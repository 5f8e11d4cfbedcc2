#include "table_io.hpp"

#include <nlohmann/json.hpp>

#include "clrp/util/error.hpp"
#include "evaluations.hpp"
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
  for (const auto& a : schema::kStringAttrs)
    t.*a.member = h5::get_string_attr(group, a.name);
  t.rules =
      nlohmann::json::parse(h5::get_string_attr(group, "rules")).get<std::vector<std::string>>();
  for (const auto& a : schema::kIntAttrs)
    t.*a.member = h5::get_i64_attr(group, a.name);
  // `residual` is only in the layout summary (it decides which datasets exist).
  const auto layout = nlohmann::json::parse(h5::get_string_attr(group, "layout"));
  t.residual = layout.at("residual").get<bool>();
  t.graphs = layout.value("graphs", false);
  t.deletion_max_tokens = layout.value("deletion_max_tokens", std::int64_t{0});
  if (layout.contains("faithfulness")) {
    const auto& f = layout.at("faithfulness");
    t.removal_operators = f.at("operators").get<std::vector<std::string>>();
    t.faithfulness_single_tokens = f.at("single_tokens").get<std::int64_t>();
    t.faithfulness_fractions = f.at("fractions").get<std::vector<double>>();
    t.faithfulness_seed = f.at("seed").get<std::uint64_t>();
    t.outcome_thresholds = f.at("outcome_thresholds").get<std::vector<double>>();
  }
  if (h5::has_attr(group, "planned_rows")) t.planned_rows = h5::get_u64_attr(group, "planned_rows");
  t.evaluations = layout.value("evaluations", false);
  if (t.evaluations) t.planned_evaluations = h5::get_u64_attr(group, "planned_evaluations");
  return t;
}

Committed read_committed(hid_t group) {
  Committed c;
  for (schema::Rows kind : schema::kAllRows)
    c.count[schema::kind_index(kind)] = h5::get_u64_attr(group, schema::committed_attr(kind));
  if (h5::has_attr(group, "failed_rows")) c.failed = h5::get_u64_attr(group, "failed_rows");
  return c;
}

std::vector<EvaluationRecord> read_evaluations(hid_t group, const TableInfo& info,
                                               std::uint32_t table) {
  if (!info.evaluations) return {};
  return evaluations::Datasets::open(group, info.group())
      .read(table, evaluations::read_committed(group));
}

std::vector<std::string> read_case_ids(hid_t group, const Committed& committed) {
  h5::Id cases = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, "cases");
  h5::Id ids = h5::make(H5Dopen2(group, "case_id", H5P_DEFAULT), H5Dclose, "case_id");
  return schema::read_case_ids(cases, ids, committed.of(schema::Rows::Case),
                               committed.of(schema::Rows::IdByte));
}

std::vector<CaseRecord> read_records(hid_t group, const TableInfo& info, std::uint32_t table,
                                     std::uint64_t row0, std::uint64_t count) {
  std::vector<CaseRecord> out(count);
  if (count == 0) return out;
  h5::Id cases = h5::make(H5Dopen2(group, "cases", H5P_DEFAULT), H5Dclose, "cases");
  const schema::CaseRows rows = schema::CaseRows::read(cases, row0, count);
  // The ids, tokens and graph nodes/edges of consecutive rows are contiguous
  // spans of their flat datasets; read each span once and cut it per case.
  using schema::Rows;
  auto span = [&](Rows kind) {
    std::uint64_t lo = rows.offset(0, kind), hi = lo;
    for (std::size_t i = 0; i < count; ++i) {
      lo = std::min(lo, rows.offset(i, kind));
      hi = std::max(hi, rows.offset(i, kind) + rows.length(i, kind));
    }
    return std::pair{lo, hi};
  };
  const auto [id0, id1] = span(Rows::IdByte);
  std::vector<char> ids(id1 - id0);
  h5::Id id_ds = h5::make(H5Dopen2(group, "case_id", H5P_DEFAULT), H5Dclose, "case_id");
  h5::read_rows(id_ds, H5T_NATIVE_UINT8, {}, id0, id1 - id0, ids.data());
  for (std::size_t i = 0; i < count; ++i) {
    CaseRecord& r = out[i];
    r.table = table;
    r.case_id.assign(ids.data() + (rows.offset(i, Rows::IdByte) - id0),
                     rows.length(i, Rows::IdByte));
    rows.to_record(i, r);
  }
  for (const auto& d : schema::datasets(info)) {
    const std::size_t per_row = d.row_bytes();
    const bool ragged = d.rows != Rows::Case;
    const auto [lo, hi] = ragged ? span(d.rows) : std::pair{row0, row0 + count};
    std::vector<char> bytes((hi - lo) * per_row);
    h5::Id ds = h5::make(H5Dopen2(group, d.name.c_str(), H5P_DEFAULT), H5Dclose, d.name);
    h5::read_rows(ds, d.type, d.trailing, lo, hi - lo, bytes.data());
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t at = ragged ? rows.offset(i, d.rows) - lo : i;
      d.restore(bytes.data() + at * per_row, rows.length(i, d.rows), out[i]);
    }
  }
  return out;
}

std::string not_carried_to_json(const std::vector<PairNotCarried>& not_carried) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& n : not_carried)
    out.push_back({{"case_id", n.case_id}, {"reason", n.reason}});
  return out.dump();
}

std::vector<PairNotCarried> read_pairs_not_carried(hid_t group) {
  const auto text = h5::read_text(group, "pairs_not_carried");
  std::vector<PairNotCarried> out;
  if (!text) return out;
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_array()) throw Error("pairs_not_carried is not a JSON array");
  for (const auto& e : j)
    out.push_back({e.value("case_id", std::string()), e.value("reason", std::string())});
  return out;
}

}  // namespace clrp::store::table_io

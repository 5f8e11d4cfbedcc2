#include "clrp/store/inspect.hpp"

#include <filesystem>
#include <vector>

#include "checksum.hpp"
#include "clrp/store/aggregate.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"
#include "evaluations.hpp"
#include "h5.hpp"
#include "schema.hpp"
#include "table_io.hpp"

namespace clrp::store {

namespace {

std::vector<double> read_all(hid_t group, const std::string& name) {
  h5::Id d = h5::make(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, name);
  h5::Id space = h5::make(H5Dget_space(d), H5Sclose, name);
  std::vector<double> out(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space)));
  h5::check(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), name);
  return out;
}

nlohmann::json summarise(const std::string& path);

}  // namespace

nlohmann::json inspect_store(const std::string& path) {
  h5::quiet();
  if (!std::filesystem::exists(path)) throw Error(Where{path}, "no such file");
  if (!std::filesystem::is_regular_file(path))
    throw Error(Where{path}, "not a regular file; a store is an HDF5 file");
  try {
    return summarise(path);
  } catch (const Error& e) {
    if (!e.where().file.empty()) throw;
    throw Error(Where{path}, e.bare_message());  // HDF5's own messages name no file
  } catch (const std::exception& e) {
    throw Error(Where{path}, e.what());  // e.g. an attribute that is not the JSON written
  }
}

namespace {

nlohmann::json summarise(const std::string& path) {
  h5::Id file =
      h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "cannot open as HDF5");
  schema::require_store(file, path);
  // Nothing is summarised from a store that is not what was written.
  const double t0 = util::steady_seconds();
  if (const auto damage = checksum::verify_file(file); !damage.empty())
    throw Error(Where{path}, checksum::report(damage));
  const double verify_seconds = util::steady_seconds() - t0;
  nlohmann::json j;
  j["path"] = path;
  j["schema"] = schema::kSchema;
  j["campaign"] = h5::get_string_attr(file, "campaign");
  j["clrp_version"] = h5::get_string_attr(file, "clrp_version");
  j["spec_hash"] = h5::get_string_attr(file, "spec_hash");
  j["spec"] = nlohmann::json::parse(h5::get_string_attr(file, "spec"));
  j["tables"] = nlohmann::json::array();
  std::uint64_t cases = 0, tokens = 0;
  std::uint64_t unfinished = 0;
  for (const auto& g : table_io::table_groups(file)) {
    h5::Id gt = h5::make(H5Gopen2(file, g.c_str(), H5P_DEFAULT), H5Gclose, g);
    const TableInfo info = table_io::read_table_info(gt);
    const auto committed = table_io::read_committed(gt);
    nlohmann::json t;
    t["group"] = g;
    t["model"] = info.model;
    t["checkpoint"] = info.checkpoint;
    t["benchmark"] = info.benchmark;
    t["checkpoint_path"] = info.checkpoint_path;
    t["rules"] = info.rules;
    t["layers"] = info.layers;
    t["heads"] = info.heads;
    t["neurons"] = info.neurons;
    t["committed_cases"] = committed.of(schema::Rows::Case);
    t["committed_tokens"] = committed.of(schema::Rows::Token);
    t["planned_cases"] = info.planned_rows;
    t["failed_cases"] = committed.failed;
    if (info.graphs) {
      t["graph_nodes"] = committed.of(schema::Rows::GraphNode);
      t["graph_edges"] = committed.of(schema::Rows::GraphEdge);
    }
    // Finished: every planned item evaluated, and every planned case either
    // stored or tried and failed.
    bool evaluated = true;
    if (info.evaluations) {
      const auto e = evaluations::read_committed(gt);
      t["planned_evaluations"] = info.planned_evaluations;
      t["committed_evaluations"] = e[0];
      evaluated = e[0] >= info.planned_evaluations;
    }
    // Fixed-set campaigns across tokenizers: reference pairs that did not
    // carry to this table's tokenizer, counted by kind (the reason's first word).
    if (const auto refused = table_io::read_pairs_not_carried(gt); !refused.empty()) {
      nlohmann::json kinds = nlohmann::json::object();
      for (const auto& r : refused) {
        const std::string kind = r.reason.substr(0, r.reason.find(':'));
        kinds[kind] = kinds.value(kind, 0) + 1;
      }
      t["pairs_not_carried"] = kinds;
    }
    t["finished"] =
        evaluated && committed.of(schema::Rows::Case) + committed.failed >= info.planned_rows;
    unfinished += t["finished"].get<bool>() ? 0 : 1;
    h5::Id d = h5::make(H5Dopen2(gt, "cases", H5P_DEFAULT), H5Dclose, "cases");
    t["rows_in_file"] = h5::rows(d);
    cases += committed.of(schema::Rows::Case);
    tokens += committed.of(schema::Rows::Token);
    const std::string agg =
        "/aggregate/" + info.model + "/" + info.checkpoint + "/" + info.benchmark;
    if (H5Lexists(file, "/aggregate", H5P_DEFAULT) > 0 &&
        H5Oexists_by_name(file, agg.c_str(), H5P_DEFAULT) > 0) {
      h5::Id ga = h5::make(H5Gopen2(file, agg.c_str(), H5P_DEFAULT), H5Gclose, agg);
      const auto ds = read_all(ga, "delta_stats");
      const auto cons = read_all(ga, "conservation");
      const auto ev = read_all(ga, "evidence_hit_rate");
      const auto seg = read_all(ga, "segment_relevance_normalized");
      nlohmann::json a;
      a["cases"] = h5::get_u64_attr(ga, "cases");
      a["delta"] = {{"mean", ds[1]}, {"std", ds[2]}, {"min", ds[3]}, {"max", ds[4]}};
      for (std::size_t r = 0; r < info.rules.size(); ++r) {
        const std::string& rule = info.rules[r];
        a["conservation_mean_abs"][rule] = cons[r * 3];
        a["evidence_hit_rate"][rule] = {
            {"cases", ev[r * 3]}, {"top_k", ev[r * 3 + 1]}, {"random", ev[r * 3 + 2]}};
        for (int s = 0; s < kSegmentColumns; ++s)
          a["segment_share"][rule][kSegmentColumnNames[s]] =
              seg[r * kSegmentColumns + static_cast<std::size_t>(s)];
      }
      if (H5Lexists(ga, "deletion", H5P_DEFAULT) > 0) {
        const auto del = read_all(ga, "deletion");  // [R + 1, 3]: rules, then random
        for (std::size_t r = 0; r <= info.rules.size(); ++r)
          a["deletion"][r < info.rules.size() ? info.rules[r] : "random"] = {
              {"cases", del[r * 3]},
              {"flip_rate", del[r * 3 + 1]},
              {"mean_tokens", del[r * 3 + 2]}};
        a["deletion_max_tokens"] = info.deletion_max_tokens;
      }
      if (H5Lexists(ga, "graph_summary_stats", H5P_DEFAULT) > 0) {
        // [kGraphSummaryColumns, 5]: cases, mean, sd, min, max per summary column.
        const auto gs = read_all(ga, "graph_summary_stats");
        for (int c = 0; c < kGraphSummaryColumns && gs.size() >= 5 * kGraphSummaryColumns; ++c) {
          const double* x = &gs[static_cast<std::size_t>(c) * 5];
          a["graphs"][kGraphSummaryColumnNames[c]] = {
              {"cases", x[0]}, {"mean", x[1]}, {"sd", x[2]}, {"min", x[3]}, {"max", x[4]}};
        }
      }
      if (H5Lexists(ga, "evidence_recovery", H5P_DEFAULT) > 0) {
        const auto rec = read_all(ga, "evidence_recovery");  // [R, 5]
        for (std::size_t r = 0; r < info.rules.size(); ++r)
          a["evidence_recovery"][info.rules[r]] = {{"cases", rec[r * 5]},
                                                   {"top_k", rec[r * 5 + 1]},
                                                   {"top_k_chance", rec[r * 5 + 2]},
                                                   {"top_10_percent", rec[r * 5 + 3]},
                                                   {"top_10_percent_chance", rec[r * 5 + 4]}};
      }
      if (H5Lexists(ga, "faithfulness_area", H5P_DEFAULT) > 0) {
        // docs/faithfulness.md: area [O, R, 2, 4], flip [O, R + 1, 3].
        const auto area = read_all(ga, "faithfulness_area");
        const auto flip = read_all(ga, "faithfulness_flip");
        const std::size_t R = info.rules.size();
        for (std::size_t o = 0; o < info.removal_operators.size(); ++o) {
          nlohmann::json& f = a["faithfulness"][info.removal_operators[o]];
          for (std::size_t r = 0; r <= R; ++r) {
            const std::string name = r < R ? info.rules[r] : "random";
            const double* fl = &flip[(o * (R + 1) + r) * 3];
            f[name]["flip"] = {{"cases", fl[0]}, {"flip_rate", fl[1]}, {"mean_tokens", fl[2]}};
            if (r == R) continue;
            for (std::size_t k = 0; k < 2; ++k) {
              const double* x = &area[((o * R + r) * 2 + k) * 4];
              f[name][k == 0 ? "least_minus_most" : "random_minus_most"] = {
                  {"cases", x[0]}, {"mean", x[1]}, {"low", x[2]}, {"high", x[3]}};
            }
          }
        }
        a["faithfulness_single_tokens"] = info.faithfulness_single_tokens;
        // docs/faithfulness.md, "Outcomes and patterns": [R, 5] counts each.
        const auto outcomes = read_all(ga, "outcomes");
        const auto patterns = read_all(ga, "patterns");
        static const char* const kOutcomeColumns[5] = {"not_a_failure", "input_informative",
                                                       "graph_informative", "neither",
                                                       "graph_not_tested"};
        static const char* const kPatternColumns[5] = {"failures_with_evidence", "urt_only",
                                                       "oit_only", "urt_and_oit", "neither"};
        for (std::size_t r = 0; r < R; ++r)
          for (std::size_t c = 0; c < 5; ++c) {
            a["outcomes"][info.rules[r]][kOutcomeColumns[c]] = outcomes[r * 5 + c];
            a["patterns"][info.rules[r]][kPatternColumns[c]] = patterns[r * 5 + c];
          }
      }
      if (H5Lexists(ga, "evaluation", H5P_DEFAULT) > 0) {
        const auto ev = read_all(ga, "evaluation");
        for (int c = 0; c < kEvaluationColumns; ++c)
          a["evaluation"][kEvaluationColumnNames[c]] = ev[static_cast<std::size_t>(c)];
        const auto counts = read_all(ga, "no_pair_reasons");
        const auto names = nlohmann::json::parse(h5::get_string_attr(ga, "no_pair_reason_names"));
        a["no_pair_reasons"] = nlohmann::json::object();
        for (std::size_t i = 0; i < counts.size() && i < names.size(); ++i)
          a["no_pair_reasons"][names[i].get<std::string>()] = counts[i];
        if (H5Lexists(ga, "instructions", H5P_DEFAULT) > 0) {
          const auto ins = read_all(ga, "instructions");
          const auto cols = nlohmann::json::parse(h5::get_string_attr(ga, "instructions_columns"));
          for (std::size_t i = 0; i < ins.size() && i < cols.size(); ++i)
            a["instructions"][cols[i].get<std::string>()] = ins[i];
        }
      }
      t["aggregate"] = a;
    }
    j["tables"].push_back(t);
  }
  j["unfinished_tables"] = unfinished;
  j["committed_cases"] = cases;
  j["committed_tokens"] = tokens;
  j["verified"] = true;  // every committed row and aggregate matches its checksum
  j["verify_seconds"] = verify_seconds;
  return j;
}

}  // namespace

}  // namespace clrp::store

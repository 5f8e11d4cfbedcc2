// clrp inspect STORE [--json]: what a campaign store holds, after verifying it
// against its checksums (a damaged store is an error that says where).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "clrp/app/commands.hpp"
#include "clrp/store/inspect.hpp"

namespace clrp::app {

namespace {

std::string number(const nlohmann::json& v) {
  if (!v.is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v.get<double>());
  return buf;
}

// Accuracy, pair yield and why failures have no pair (tables with evaluations).
void print_evaluation(const nlohmann::json& a) {
  const auto& e = a["evaluation"];
  std::printf("    accuracy %s [%s, %s] of %s items", number(e["accuracy"]).c_str(),
              number(e["accuracy_low"]).c_str(), number(e["accuracy_high"]).c_str(),
              number(e["scored"]).c_str());
  if (e["errors"].get<double>() > 0) std::printf(" (%s errors)", number(e["errors"]).c_str());
  std::printf("; pair yield %s [%s, %s] of %s failures\n", number(e["pair_yield"]).c_str(),
              number(e["pair_yield_low"]).c_str(), number(e["pair_yield_high"]).c_str(),
              number(e["failures"]).c_str());
  if (!a["no_pair_reasons"].empty()) {
    std::printf("      no pair:");
    for (const auto& [reason, n] : a["no_pair_reasons"].items())
      std::printf(" %s %s", reason.c_str(), number(n).c_str());
    std::printf("\n");
  }
  if (a.contains("instructions")) {
    std::printf("      IFEval:");
    for (const auto& [name, v] : a["instructions"].items())
      std::printf(" %s %s", name.c_str(), number(v).c_str());
    std::printf("\n");
  }
}

void print_text(const nlohmann::json& j) {
  std::printf("store %s\n  campaign %s (spec %s, schema %s, clrp %s)\n",
              j["path"].get<std::string>().c_str(), j["campaign"].get<std::string>().c_str(),
              j["spec_hash"].get<std::string>().c_str(), j["schema"].get<std::string>().c_str(),
              j["clrp_version"].get<std::string>().c_str());
  std::printf("  mode %s, %zu models, rules %s\n", j["spec"]["mode"].get<std::string>().c_str(),
              j["spec"]["models"].size(), j["spec"]["rules"].dump().c_str());
  std::printf("  %llu committed cases, %llu tokens, %zu tables\n",
              static_cast<unsigned long long>(j["committed_cases"].get<std::uint64_t>()),
              static_cast<unsigned long long>(j["committed_tokens"].get<std::uint64_t>()),
              j["tables"].size());
  std::printf("  checksums verified: every committed row and aggregate as written (%.2f s)\n",
              j["verify_seconds"].get<double>());
  if (j["unfinished_tables"].get<std::uint64_t>() > 0)
    std::printf(
        "  UNFINISHED: %llu tables hold fewer cases than planned (run again with --resume, "
        "or merge the other checkpoints' stores)\n",
        static_cast<unsigned long long>(j["unfinished_tables"].get<std::uint64_t>()));
  for (const auto& t : j["tables"]) {
    std::printf("  %s: %llu/%llu cases, %llu tokens, %lld layers",
                t["group"].get<std::string>().c_str(),
                static_cast<unsigned long long>(t["committed_cases"].get<std::uint64_t>()),
                static_cast<unsigned long long>(t["planned_cases"].get<std::uint64_t>()),
                static_cast<unsigned long long>(t["committed_tokens"].get<std::uint64_t>()),
                static_cast<long long>(t["layers"].get<std::int64_t>()));
    if (t["rows_in_file"] != t["committed_cases"])
      std::printf(" (%llu rows not committed)",
                  static_cast<unsigned long long>(t["rows_in_file"].get<std::uint64_t>() -
                                                  t["committed_cases"].get<std::uint64_t>()));
    if (t["failed_cases"].get<std::uint64_t>() > 0)
      std::printf(" (%llu failed)",
                  static_cast<unsigned long long>(t["failed_cases"].get<std::uint64_t>()));
    if (t.contains("graph_nodes"))
      std::printf(", graphs: %llu nodes, %llu edges",
                  static_cast<unsigned long long>(t["graph_nodes"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(t["graph_edges"].get<std::uint64_t>()));
    std::printf("\n");
    if (t.contains("planned_evaluations"))
      std::printf("    evaluated %llu/%llu items\n",
                  static_cast<unsigned long long>(t["committed_evaluations"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(t["planned_evaluations"].get<std::uint64_t>()));
    if (t.contains("pairs_not_carried")) {
      std::printf("    reference pairs not carried to this tokenizer:");
      for (const auto& [kind, n] : t["pairs_not_carried"].items())
        std::printf(" %s %s", kind.c_str(), number(n).c_str());
      std::printf("\n");
    }
    if (!t.contains("aggregate")) continue;
    const auto& a = t["aggregate"];
    if (a.contains("evaluation")) print_evaluation(a);
    std::printf("    delta mean %s (std %s, min %s, max %s)\n", number(a["delta"]["mean"]).c_str(),
                number(a["delta"]["std"]).c_str(), number(a["delta"]["min"]).c_str(),
                number(a["delta"]["max"]).c_str());
    for (const auto& rule : t["rules"]) {
      const std::string r = rule;
      std::printf("    %-13s conservation |err| %s", r.c_str(),
                  number(a["conservation_mean_abs"][r]).c_str());
      const auto& ev = a["evidence_hit_rate"][r];
      if (ev["cases"].is_number() && ev["cases"].get<double>() > 0)
        std::printf(", evidence hit %s (random %s)", number(ev["top_k"]).c_str(),
                    number(ev["random"]).c_str());
      if (a.contains("evidence_recovery") && a["evidence_recovery"][r]["cases"].is_number() &&
          a["evidence_recovery"][r]["cases"].get<double>() > 0) {
        const auto& rec = a["evidence_recovery"][r];
        std::printf(", evidence recovered in top k %s (chance %s), top 10%% %s (chance %s)",
                    number(rec["top_k"]).c_str(), number(rec["top_k_chance"]).c_str(),
                    number(rec["top_10_percent"]).c_str(),
                    number(rec["top_10_percent_chance"]).c_str());
      }
      std::printf("\n      share of Δℓ by segment:");
      for (const auto& [seg, v] : a["segment_share"][r].items())
        if (v.is_number() && v.get<double>() != 0)
          std::printf(" %s %s", seg.c_str(), number(v).c_str());
      std::printf("\n");
    }
    if (a.contains("faithfulness")) {
      // docs/faithfulness.md: the area between least- and most-relevant-first
      // curves (of |Δℓ|) with its bootstrap interval, then the flip rate.
      std::printf(
          "    faithfulness (area between least- and most-relevant-first, 95 %% CI; "
          "flipped within %lld tokens):\n",
          static_cast<long long>(a["faithfulness_single_tokens"].get<std::int64_t>()));
      for (const auto& [op, per] : a["faithfulness"].items()) {
        std::printf("      %-7s", op.c_str());
        for (const auto& [name, f] : per.items()) {
          std::printf(" %s", name.c_str());
          if (f.contains("least_minus_most"))
            std::printf(" %s [%s, %s]", number(f["least_minus_most"]["mean"]).c_str(),
                        number(f["least_minus_most"]["low"]).c_str(),
                        number(f["least_minus_most"]["high"]).c_str());
          std::printf(" flip %s;", number(f["flip"]["flip_rate"]).c_str());
        }
        std::printf("\n");
      }
    }
    if (a.contains("outcomes")) {
      for (const auto& [rule, o] : a["outcomes"].items()) {
        std::printf(
            "      %-13s failures: input attribution informative %s; not: graph informative %s, "
            "neither %s, graph not tested %s",
            rule.c_str(), number(o["input_informative"]).c_str(),
            number(o["graph_informative"]).c_str(), number(o["neither"]).c_str(),
            number(o["graph_not_tested"]).c_str());
        const auto& p = a["patterns"][rule];
        if (p["failures_with_evidence"].get<double>() > 0)
          std::printf("; with evidence %s: URT %s, OIT %s, both %s",
                      number(p["failures_with_evidence"]).c_str(), number(p["urt_only"]).c_str(),
                      number(p["oit_only"]).c_str(), number(p["urt_and_oit"]).c_str());
        std::printf("\n");
      }
    }
    if (a.contains("graphs") &&
        a["graphs"]["intervention_correlation"]["cases"].get<double>() > 0) {
      // docs/graphs.md, "Interventions": means over the tested graphs.
      const auto& r = a["graphs"]["intervention_correlation"];
      const auto& k = a["graphs"]["kept_share"];
      std::printf(
          "    graph interventions (%s graphs): predicted vs measured r mean %s (min %s, max %s); "
          "kept share mean %s\n",
          number(r["cases"]).c_str(), number(r["mean"]).c_str(), number(r["min"]).c_str(),
          number(r["max"]).c_str(), number(k["mean"]).c_str());
    }
    if (a.contains("deletion")) {
      std::printf("    deletion test (up to %lld tokens): flip rate, mean tokens to flip:",
                  static_cast<long long>(a["deletion_max_tokens"].get<std::int64_t>()));
      for (const auto& [name, d] : a["deletion"].items())
        std::printf(" %s %s/%s", name.c_str(), number(d["flip_rate"]).c_str(),
                    number(d["mean_tokens"]).c_str());
      std::printf("\n");
    }
  }
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Verify a campaign store against its checksums and summarise it (docs/store.md); exit 2 "
      "with the damaged tables, rows and how to redo them when it is damaged");
  cmd->add_option("store", *path, "The campaign's HDF5 store")->required();
  cmd->add_flag("--json", *json, "Print the summary as JSON");
  cmd->callback([path, json] {
    const nlohmann::json j = store::inspect_store(*path);
    if (*json)
      std::printf("%s\n", j.dump(2).c_str());
    else
      print_text(j);
  });
}

}  // namespace clrp::app

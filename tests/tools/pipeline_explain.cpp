// Test tool: explains micro-batches through a pipeline of all ranks (one
// group of P = world-size stages) and writes, on rank 0, what it recorded.
//
//   mpirun -n P clrp_pipeline_explain MODEL REQUEST.json OUT.json
//
// REQUEST: {"cases": [{"ids": [...], "seeds": [{"position": p, "wrong": w,
// "correct": c}, ...]}, ...], "rules": ["attnlrp", ...], "neurons": k
// (optional), "split": [a_1, ..., a_{P-1}] (optional: stage boundaries;
// default: balanced by parameter count, or by measured time with "balance":
// "time"), "transport": "auto" (optional)}.
// OUT: {"split": [[a, b], ...], "transport": name, "cases": [[explanation
// per rule], ...], "errors": ["" or why the case failed, ...], "stages": [{"wall", "compute",
// "bubble", "bytes_sent", "peak_rss_kib"}, ...]}.
#include <ATen/ATen.h>
#include <mpi.h>
#include <sys/resource.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/dist/layer_split.hpp"
#include "clrp/dist/pipeline.hpp"
#include "clrp/dist/world.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/model/checkpoint.hpp"
#include "explanation_json.hpp"

namespace {

int run(int argc, char** argv) {
  using namespace clrp;
  const auto req = nlohmann::json::parse(std::ifstream(argv[2]));
  const auto ck = model::Checkpoint::open(argv[1]);
  const dist::World world(MPI_COMM_WORLD, [] {
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
  }());
  std::vector<model::LayerRange> split;
  if (req.contains("split")) {
    std::vector<std::int64_t> cuts{0};
    for (const auto& a : req.at("split"))
      cuts.push_back(a.get<std::int64_t>());
    cuts.push_back(ck.config().num_layers);
    for (std::size_t s = 0; s + 1 < cuts.size(); ++s)
      split.push_back({cuts[s], cuts[s + 1]});
    dist::check_split(split, ck.config().num_layers);
  } else {
    split = dist::balance_layers(dist::parameter_costs(ck.config()), world.stages());
  }
  auto stage_model =
      std::make_unique<model::DecoderModel>(ck, split.at(static_cast<std::size_t>(world.stage())));
  if (req.value("balance", std::string("parameters")) == "time" && world.stages() > 1) {
    split = dist::balance_layers(dist::measure_costs(*stage_model, world.stages_comm(), 256),
                                 world.stages());
    stage_model.reset();
    stage_model = std::make_unique<model::DecoderModel>(
        ck, split.at(static_cast<std::size_t>(world.stage())));
  }
  auto transport =
      dist::make_transport(world.stages_comm(), stage_model->compute().device,
                           dist::parse_transport(req.value("transport", std::string("auto"))));
  std::vector<lrp::MicroBatch> batches;
  const std::int64_t vocab = ck.config().vocab_size;
  for (const auto& c : req.at("cases")) {
    lrp::MicroBatch mb;
    mb.ids = at::tensor(c.at("ids").get<std::vector<std::int64_t>>(), at::kLong);
    for (const auto& r : req.at("rules"))
      mb.rules.push_back(lrp::parse_rule(r.get<std::string>()));
    for (const auto& s : c.at("seeds"))
      mb.seeds.push_back(
          lrp::Seed::contrastive(s.at("position"), s.at("wrong"), s.at("correct"), vocab));
    batches.push_back(std::move(mb));
  }
  const lrp::RecordOptions record{
      .residual = true, .heads = true, .neurons = req.value("neurons", 0)};
  dist::Pipeline pipeline(world.stages_comm(), *transport);
  const auto results = lrp::explain(pipeline, *stage_model, batches, record);
  const auto times = pipeline.gather_times();
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  long rss = usage.ru_maxrss;
  std::vector<long> all_rss(static_cast<std::size_t>(world.size()));
  MPI_Gather(&rss, 1, MPI_LONG, all_rss.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  if (world.rank() != 0) return 0;
  nlohmann::json out{{"transport", transport->name()}};
  for (const auto& r : split)
    out["split"].push_back({r.begin, r.end});
  for (const auto& result : results) {
    nlohmann::json rules = nlohmann::json::array();
    for (const auto& ex : result.rules)
      rules.push_back(test_tools::explanation_json(ex));
    out["cases"].push_back(rules);
    out["errors"].push_back(result.error);
  }
  for (std::size_t s = 0; s < times.size(); ++s)
    out["stages"].push_back({{"wall", times[s].wall},
                             {"compute", times[s].compute},
                             {"bubble", times[s].bubble()},
                             {"bytes_sent", times[s].bytes_sent},
                             {"peak_rss_kib", all_rss[s]}});
  std::ofstream(argv[3]) << out.dump();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: mpirun -n P clrp_pipeline_explain MODEL REQUEST.json OUT.json\n";
    return 2;
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int status = 0;
  try {
    status = run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "clrp_pipeline_explain: " << e.what() << "\n";
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return status;
}

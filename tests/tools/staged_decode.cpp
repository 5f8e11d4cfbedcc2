// Test tool: incremental decoding through a pipeline of all ranks
// (dist/staged_decoder.hpp) against the whole model in one process, on rank 0,
// with the forks the evaluator makes of its caches.
//
//   mpirun -n P clrp_staged_decode MODEL OUT.json
//
// Rank 0 loads the whole model and its stage; every step below runs on both
// (the same caches' history) and the logits are compared bit for bit:
//   1. a 21-token prompt read at once;
//   2. a fork truncated to 10 tokens reading 3 more (a copy on write: the
//      prompt's room is written past 10);
//   3. the prompt repeated over 3 rows reading 2 tokens each (PromptState::score);
//   4. 6 steps of 3 sequences at once (forward_step): the prompt continued in
//      place, a fork truncated to 15, and fork 2;
//   5. every cache dropped, then a fresh 5-token prompt: the other stages must
//      have released every room but that prompt's.
// OUT (rank 0): {"steps": n, "max_abs_diff": d, "equal": bool, "rooms_left": [per stage]}.
#include <ATen/ATen.h>
#include <mpi.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/dist/layer_split.hpp"
#include "clrp/dist/staged_decoder.hpp"
#include "clrp/dist/transport.hpp"
#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"

namespace {

using clrp::model::KvCache;

at::Tensor ids_of(std::vector<std::int64_t> ids, std::int64_t rows = 1) {
  const auto n = static_cast<std::int64_t>(ids.size()) / rows;
  return at::tensor(ids, at::kLong).view({rows, n});
}

std::vector<std::int64_t> tokens(std::int64_t n, std::int64_t vocab, std::int64_t seed) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < n; ++i)
    out.push_back((seed * 7919 + i * 104729) % (vocab - 3) + 3);
  return out;
}

int run(char** argv) {
  using namespace clrp;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const auto ck = model::Checkpoint::open(argv[1]);
  const auto split = dist::balance_layers(dist::parameter_costs(ck.config()), size);
  const model::DecoderModel stage(ck, split.at(static_cast<std::size_t>(rank)));
  auto transport = dist::make_mpi_transport(MPI_COMM_WORLD, stage.compute().device);
  // The servers serve a session whenever rank 0 says so (1), and stop at 0.
  const auto tell = [](int go) { MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD); };
  if (rank != 0) {
    dist::DecodingServer server(stage, *transport, MPI_COMM_WORLD);
    for (;;) {
      int go = 0;
      MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
      if (go == 0) break;
      server.serve();
    }
    auto rooms = static_cast<long long>(server.rooms());
    MPI_Gather(&rooms, 1, MPI_LONG_LONG, nullptr, 0, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    return 0;
  }
  const model::DecoderModel whole(ck);
  dist::StagedDecoder staged(stage, *transport, MPI_COMM_WORLD, [&] { tell(1); });
  const std::int64_t vocab = ck.config().vocab_size;
  double worst = 0.0;
  bool equal = true;
  int steps = 0;
  const auto compare = [&](const at::Tensor& a, const at::Tensor& b) {
    equal = equal && a.sizes() == b.sizes() && at::equal(a, b);
    worst = std::max(worst, (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>());
    ++steps;
  };
  {
    // Two histories, the same operations: [0] on the whole model, [1] staged.
    KvCache prompt[2], forked[2], repeated[2], later[2];
    const model::IncrementalModel* models[2] = {&whole, &staged};
    at::Tensor out[2];
    for (int m = 0; m < 2; ++m)
      out[m] = models[m]->forward_cached(ids_of(tokens(21, vocab, 1)), prompt[m]);
    compare(out[0], out[1]);
    for (int m = 0; m < 2; ++m) {
      forked[m] = prompt[m].truncated(10);
      out[m] = models[m]->forward_cached(ids_of(tokens(3, vocab, 2)), forked[m], true);
    }
    compare(out[0], out[1]);
    for (int m = 0; m < 2; ++m) {
      repeated[m] = prompt[m].expanded(3);
      out[m] = models[m]->forward_cached(ids_of(tokens(6, vocab, 3), 3), repeated[m]);
    }
    compare(out[0], out[1]);
    for (int m = 0; m < 2; ++m)
      later[m] = prompt[m].truncated(15);
    for (int step = 0; step < 6; ++step) {
      const auto next = tokens(3, vocab, 10 + step);
      const std::vector<std::int32_t> ids(next.begin(), next.end());
      for (int m = 0; m < 2; ++m)
        out[m] = models[m]->forward_step(ids, {&prompt[m], &later[m], &forked[m]});
      compare(out[0], out[1]);
    }
  }
  KvCache fresh[2];
  at::Tensor a = whole.forward_cached(ids_of(tokens(5, vocab, 4)), fresh[0]);
  at::Tensor b = staged.forward_cached(ids_of(tokens(5, vocab, 4)), fresh[1]);
  compare(a, b);
  staged.close();
  tell(0);
  long long mine = 0;
  std::vector<long long> rooms(static_cast<std::size_t>(size));
  MPI_Gather(&mine, 1, MPI_LONG_LONG, rooms.data(), 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  rooms.erase(rooms.begin());
  std::ofstream(argv[2]) << nlohmann::json{
      {"steps", steps}, {"max_abs_diff", worst}, {"equal", equal}, {"rooms_left", rooms}};
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rc = 0;
  if (argc != 3) {
    std::cerr << "usage: mpirun -n P clrp_staged_decode MODEL OUT.json\n";
    rc = 2;
  } else {
    try {
      rc = run(argv);
    } catch (const std::exception& e) {
      std::cerr << "clrp_staged_decode: " << e.what() << "\n";
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  MPI_Finalize();
  return rc;
}

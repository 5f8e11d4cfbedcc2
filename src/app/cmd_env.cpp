// clrp env: the software stack this binary runs on (print it in job logs).
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/commands.hpp"
#include "clrp/util/build_info.hpp"

namespace clrp::app {

void register_env(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("env", "Show clrp, libtorch, MPI, HDF5, CUDA/NCCL versions and GPUs");
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([json] {
    const auto b = util::build_info();
    const auto g = util::gpu_info();
    nlohmann::json j{{"clrp", b.clrp_version},
                     {"torch", b.torch_version},
                     {"mpi", b.mpi_library},
                     {"hdf5", b.hdf5_version},
                     {"hdf5_parallel", b.hdf5_parallel},
                     {"compute_threads", b.compute_threads},
                     {"cuda_build", g.built_with_cuda},
                     {"cuda_runtime", g.cuda_runtime},
                     {"nccl", g.nccl},
                     {"gpus", nlohmann::json::array()}};
    for (const auto& d : g.devices)
      j["gpus"].push_back({{"index", d.index},
                           {"name", d.name},
                           {"memory_gib", d.memory_gib},
                           {"compute_capability", std::to_string(d.compute_major) + "." +
                                                      std::to_string(d.compute_minor)}});
    if (!g.error.empty()) j["gpu_error"] = g.error;
    if (*json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    for (const auto& [k, v] : j.items())
      std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  });
}

}  // namespace clrp::app

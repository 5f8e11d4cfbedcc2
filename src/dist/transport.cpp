#include "clrp/dist/transport.hpp"

#include <cstring>
#include <set>
#include <vector>

#include "clrp/util/error.hpp"
#include "nccl_transport.hpp"

namespace clrp::dist {

namespace {

// True when two ranks of `comm` compute on the same GPU of the same host.
bool shares_a_gpu(MPI_Comm comm, const c10::Device& device) {
  struct Slot {
    char host[MPI_MAX_PROCESSOR_NAME];
    int index;
  };
  Slot mine{};
  int len = 0;
  MPI_Get_processor_name(mine.host, &len);
  mine.index = device.index();
  int size = 1;
  MPI_Comm_size(comm, &size);
  std::vector<Slot> all(static_cast<std::size_t>(size));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm);
  std::set<std::pair<std::string, int>> seen;
  for (const auto& s : all)
    if (!seen.insert({std::string(s.host, ::strnlen(s.host, sizeof s.host)), s.index}).second)
      return true;
  return false;
}

}  // namespace

std::unique_ptr<Transport> make_transport(MPI_Comm stages, const c10::Device& device,
                                          TransportKind kind) {
  if (kind == TransportKind::Mpi) return make_mpi_transport(stages, device);
  // Every rank takes part in the check, so all decide alike.
  const bool shared = device.is_cuda() && shares_a_gpu(stages, device);
  std::string why;
  if (!nccl_available())
    why = "this clrp was built without CUDA/NCCL";
  else if (!device.is_cuda())
    why = "the model computes on the CPU";
  else if (shared)
    why = "two stages of a group share one GPU (NCCL needs one rank per GPU)";
  if (why.empty()) return make_nccl_transport(stages, device);
  if (kind == TransportKind::Nccl) throw Error("transport nccl: " + why);
  return make_mpi_transport(stages, device);
}

}  // namespace clrp::dist

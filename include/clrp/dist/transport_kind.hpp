// Which transport carries tensors between the stages of a pipeline group, as
// a campaign spec or the command line names it. Torch- and MPI-free, so that
// a spec is read (and fuzzed) without either; the transports: transport.hpp.
#pragma once

#include <string>

namespace clrp::dist {

enum class TransportKind {
  Auto,  ///< NCCL when every stage has a GPU of its own, MPI otherwise
  Mpi,
  Nccl,
};

/// Parses "auto", "mpi" or "nccl"; clrp::Error otherwise.
TransportKind parse_transport(const std::string& name);

}  // namespace clrp::dist

#include "clrp/dist/transport_kind.hpp"

#include "clrp/util/error.hpp"

namespace clrp::dist {

TransportKind parse_transport(const std::string& name) {
  if (name == "auto") return TransportKind::Auto;
  if (name == "mpi") return TransportKind::Mpi;
  if (name == "nccl") return TransportKind::Nccl;
  throw Error("transport '" + name + "': expected auto, mpi or nccl");
}

}  // namespace clrp::dist

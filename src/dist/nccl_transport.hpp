// The NCCL implementation of Transport (private to src/dist).
#pragma once

#include <memory>

#include "clrp/dist/transport.hpp"

namespace clrp::dist {

/// True when this build has NCCL.
bool nccl_available();
/// One NCCL communicator per channel over `stages`; `device` is this rank's GPU.
std::unique_ptr<Transport> make_nccl_transport(MPI_Comm stages, const c10::Device& device);

}  // namespace clrp::dist

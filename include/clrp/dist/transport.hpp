// Tensors between the stages of a pipeline group, behind one interface.
//
// Two implementations, picked at run time (make_transport):
//   - MPI: CPU tensors go as they are; GPU tensors are staged through host
//     memory. Works for any placement, several stages per GPU included.
//   - NCCL (builds with CUDA): GPU tensors go device to device. Needs one
//     rank per GPU within the group.
// A tensor's dtype and shape travel first in a small MPI header, so the
// receiver needs to know only whom it receives from. Sends return at once
// (the tensor is kept alive until delivered): a stage can send its
// activations forward and then receive gradients from the same peer without
// the two blocking each other, which the 1F1B schedule relies on. Messages of
// one channel between two peers arrive in the order they were sent; the two
// channels (activations flowing up, gradients flowing down) are independent.
#pragma once

#include <ATen/core/Tensor.h>
#include <mpi.h>

#include <memory>
#include <string>

#include "clrp/dist/transport_kind.hpp"

namespace clrp::dist {

enum class Channel { Activations = 0, Gradients = 1 };

class Transport {
 public:
  virtual ~Transport() = default;
  /// "mpi", "mpi (host-staged)" or "nccl".
  virtual std::string name() const = 0;
  /// Starts sending `t` to rank `peer` of the group; returns without waiting.
  virtual void send(const at::Tensor& t, int peer, Channel channel) = 0;
  /// Receives the next tensor `peer` sent on `channel`, onto this stage's device.
  virtual at::Tensor recv(int peer, Channel channel) = 0;
  /// Sums `t` in place over every rank of the group (collective).
  virtual void allreduce(at::Tensor& t) = 0;
  /// Returns when every send started so far has been delivered.
  virtual void wait_sends() = 0;
  /// Bytes sent so far (payload only).
  std::int64_t bytes_sent() const { return bytes_sent_; }

 protected:
  std::int64_t bytes_sent_ = 0;
};

/// The transport of the group `stages` (one rank per stage) for tensors on
/// `device`. Auto picks NCCL only when the build has it, the device is a GPU
/// and no two ranks of the group share one; otherwise MPI. Asking for NCCL
/// where it cannot work throws clrp::Error saying why. Collective over `stages`.
std::unique_ptr<Transport> make_transport(MPI_Comm stages, const c10::Device& device,
                                          TransportKind kind);

/// The MPI transport alone (tests, and the fallback of make_transport).
std::unique_ptr<Transport> make_mpi_transport(MPI_Comm stages, const c10::Device& device);

}  // namespace clrp::dist

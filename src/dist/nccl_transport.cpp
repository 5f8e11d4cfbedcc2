// The NCCL transport: GPU tensors device to device (builds with CUDA only).
//
// Each channel has its own communicator and stream, so activations going up
// and gradients going down never queue behind each other (the 1F1B schedule
// sends one way while it receives the other). Ordering against libtorch's
// work, which runs on the legacy default stream, is by events: a send waits
// for the kernels that produced its tensor; the default stream waits for a
// receive before anything reads the tensor.
#include "nccl_transport.hpp"

#if CLRP_HAVE_CUDA

#include <ATen/ATen.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <array>
#include <deque>

#include "clrp/util/error.hpp"
#include "tensor_header.hpp"

namespace clrp::dist {

namespace {

constexpr int kHeaderTag = 7300;  // + channel; payloads go over NCCL

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw Error(Where{"nccl transport"}, std::string(what) + ": " + cudaGetErrorString(e));
}
void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess)
    throw Error(Where{"nccl transport"}, std::string(what) + ": " + ncclGetErrorString(r));
}

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kHalf:
      return ncclFloat16;
    case at::kLong:
      return ncclInt64;
    case at::kInt:
      return ncclInt32;
    default:
      throw Error(Where{"nccl transport"}, "allreduce of an unsupported dtype");
  }
}

// The legacy default stream, on which libtorch runs its kernels.
constexpr cudaStream_t kTorchStream = nullptr;

class NcclTransport final : public Transport {
 public:
  NcclTransport(MPI_Comm comm, c10::Device device) : comm_(comm), device_(device) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    check(cudaSetDevice(device.index()), "cudaSetDevice");
    for (int c = 0; c < 2; ++c) {
      ncclUniqueId id{};
      if (rank == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm);
      check(ncclCommInitRank(&nccl_[c], size, id, rank), "ncclCommInitRank");
      check(cudaStreamCreateWithFlags(&streams_[c], cudaStreamNonBlocking), "cudaStreamCreate");
    }
  }
  ~NcclTransport() override {
    try {
      wait_sends();
    } catch (...) {
    }
    for (int c = 0; c < 2; ++c) {
      ncclCommDestroy(nccl_[c]);
      cudaStreamDestroy(streams_[c]);
    }
  }

  std::string name() const override { return "nccl"; }

  void send(const at::Tensor& t, int peer, Channel channel) override {
    const int c = static_cast<int>(channel);
    auto p = std::make_unique<Pending>();
    p->header = header_of(t);
    p->data = t.contiguous();
    MPI_Isend(p->header.data(), static_cast<int>(p->header.size()), MPI_INT64_T, peer,
              kHeaderTag + c, comm_, &p->header_request);
    after(kTorchStream, streams_[c]);
    check(ncclSend(p->data.data_ptr(), p->data.nbytes(), ncclChar, peer, nccl_[c], streams_[c]),
          "ncclSend");
    check(cudaEventCreateWithFlags(&p->done, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventRecord(p->done, streams_[c]), "cudaEventRecord");
    bytes_sent_ += static_cast<std::int64_t>(p->data.nbytes());
    pending_.push_back(std::move(p));
    release_delivered();
  }

  at::Tensor recv(int peer, Channel channel) override {
    const int c = static_cast<int>(channel);
    TensorHeader h{};
    MPI_Recv(h.data(), static_cast<int>(h.size()), MPI_INT64_T, peer, kHeaderTag + c, comm_,
             MPI_STATUS_IGNORE);
    at::Tensor t = empty_like_header(h, at::TensorOptions().device(device_));
    after(kTorchStream, streams_[c]);  // the allocation may reuse memory still being read
    check(ncclRecv(t.data_ptr(), t.nbytes(), ncclChar, peer, nccl_[c], streams_[c]), "ncclRecv");
    after(streams_[c], kTorchStream);
    return t;
  }

  void allreduce(at::Tensor& t) override {
    require(t.is_cuda() && t.is_contiguous(), Where{"nccl transport"},
            "allreduce needs a contiguous GPU tensor");
    const int c = static_cast<int>(Channel::Activations);
    after(kTorchStream, streams_[c]);
    check(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t.scalar_type()), ncclSum,
                        nccl_[c], streams_[c]),
          "ncclAllReduce");
    after(streams_[c], kTorchStream);
  }

  void wait_sends() override {
    for (auto& p : pending_) {
      check(cudaEventSynchronize(p->done), "cudaEventSynchronize");
      MPI_Wait(&p->header_request, MPI_STATUS_IGNORE);
    }
    pending_.clear();
  }

 private:
  struct Pending {
    TensorHeader header;
    MPI_Request header_request = MPI_REQUEST_NULL;
    at::Tensor data;  // kept alive until the send kernel is done with it
    cudaEvent_t done = nullptr;
    ~Pending() {
      if (done != nullptr) cudaEventDestroy(done);
    }
  };

  // Makes `waiter` wait for the work queued on `first` so far.
  void after(cudaStream_t first, cudaStream_t waiter) {
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventRecord(e, first), "cudaEventRecord");
    check(cudaStreamWaitEvent(waiter, e, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(e);  // released once the wait is satisfied
  }

  void release_delivered() {
    while (!pending_.empty() && cudaEventQuery(pending_.front()->done) == cudaSuccess) {
      MPI_Wait(&pending_.front()->header_request, MPI_STATUS_IGNORE);
      pending_.pop_front();
    }
  }

  MPI_Comm comm_;
  c10::Device device_;
  std::array<ncclComm_t, 2> nccl_{};
  std::array<cudaStream_t, 2> streams_{};
  std::deque<std::unique_ptr<Pending>> pending_;
};

}  // namespace

bool nccl_available() {
  return true;
}

std::unique_ptr<Transport> make_nccl_transport(MPI_Comm stages, const c10::Device& device) {
  return std::make_unique<NcclTransport>(stages, device);
}

}  // namespace clrp::dist

#else  // no CUDA in this build

#include "clrp/util/error.hpp"

namespace clrp::dist {

bool nccl_available() {
  return false;
}

std::unique_ptr<Transport> make_nccl_transport(MPI_Comm, const c10::Device&) {
  throw Error(Where{"transport"}, "this clrp was built without CUDA/NCCL (CLRP_CUDA=OFF)");
}

}  // namespace clrp::dist

#endif

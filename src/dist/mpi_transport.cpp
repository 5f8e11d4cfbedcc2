// The MPI transport: CPU tensors as they are, GPU tensors through host memory.
#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <deque>
#include <limits>

#include "clrp/dist/transport.hpp"
#include "clrp/util/error.hpp"
#include "tensor_header.hpp"

namespace clrp::dist {

namespace {

constexpr int kTagBase = 7200;  // the campaign's messages use 71xx
// MPI counts are ints: payloads go in pieces of at most 1 GiB.
constexpr std::int64_t kPieceBytes = std::int64_t{1} << 30;

int header_tag(Channel c) {
  return kTagBase + 2 * static_cast<int>(c);
}
int payload_tag(Channel c) {
  return kTagBase + 2 * static_cast<int>(c) + 1;
}

class MpiTransport final : public Transport {
 public:
  MpiTransport(MPI_Comm comm, c10::Device device) : comm_(comm), device_(device) {}
  ~MpiTransport() override { wait_sends(); }

  std::string name() const override { return device_.is_cpu() ? "mpi" : "mpi (host-staged)"; }

  void send(const at::Tensor& t, int peer, Channel channel) override {
    auto p = std::make_unique<Pending>();
    p->header = header_of(t);
    p->data = t.to(at::kCPU).contiguous();
    p->requests.emplace_back();
    MPI_Isend(p->header.data(), static_cast<int>(p->header.size()), MPI_INT64_T, peer,
              header_tag(channel), comm_, &p->requests.back());
    const auto* bytes = static_cast<const char*>(p->data.data_ptr());
    const std::int64_t n = static_cast<std::int64_t>(p->data.nbytes());
    for (std::int64_t off = 0; off < n; off += kPieceBytes) {
      p->requests.emplace_back();
      MPI_Isend(bytes + off, static_cast<int>(std::min(kPieceBytes, n - off)), MPI_BYTE, peer,
                payload_tag(channel), comm_, &p->requests.back());
    }
    bytes_sent_ += n;
    pending_.push_back(std::move(p));
    release_delivered();
  }

  at::Tensor recv(int peer, Channel channel) override {
    TensorHeader h{};
    MPI_Recv(h.data(), static_cast<int>(h.size()), MPI_INT64_T, peer, header_tag(channel), comm_,
             MPI_STATUS_IGNORE);
    at::Tensor t = empty_like_header(h, at::TensorOptions());
    auto* bytes = static_cast<char*>(t.data_ptr());
    const std::int64_t n = static_cast<std::int64_t>(t.nbytes());
    for (std::int64_t off = 0; off < n; off += kPieceBytes)
      MPI_Recv(bytes + off, static_cast<int>(std::min(kPieceBytes, n - off)), MPI_BYTE, peer,
               payload_tag(channel), comm_, MPI_STATUS_IGNORE);
    return device_.is_cpu() ? t : t.to(device_);
  }

  void allreduce(at::Tensor& t) override {
    at::Tensor host = t.to(at::kCPU).contiguous();
    MPI_Datatype type = MPI_DATATYPE_NULL;
    switch (host.scalar_type()) {
      case at::kFloat:
        type = MPI_FLOAT;
        break;
      case at::kDouble:
        type = MPI_DOUBLE;
        break;
      case at::kLong:
        type = MPI_INT64_T;
        break;
      case at::kInt:
        type = MPI_INT32_T;
        break;
      default:
        throw Error(Where{"transport"}, "allreduce of an unsupported dtype");
    }
    require(host.numel() <= std::numeric_limits<int>::max(), Where{"transport"},
            "allreduce of more than 2^31 elements");
    MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()), type, MPI_SUM,
                  comm_);
    if (host.data_ptr() != t.data_ptr()) t.copy_(host);
  }

  void wait_sends() override {
    for (auto& p : pending_)
      MPI_Waitall(static_cast<int>(p->requests.size()), p->requests.data(), MPI_STATUSES_IGNORE);
    pending_.clear();
  }

 private:
  struct Pending {
    TensorHeader header;
    at::Tensor data;  // kept alive until delivered
    std::vector<MPI_Request> requests;
  };

  // Frees the buffers of sends already delivered, oldest first.
  void release_delivered() {
    while (!pending_.empty()) {
      auto& p = *pending_.front();
      int done = 0;
      MPI_Testall(static_cast<int>(p.requests.size()), p.requests.data(), &done,
                  MPI_STATUSES_IGNORE);
      if (!done) break;
      pending_.pop_front();
    }
  }

  MPI_Comm comm_;
  c10::Device device_;
  std::deque<std::unique_ptr<Pending>> pending_;
};

}  // namespace

std::unique_ptr<Transport> make_mpi_transport(MPI_Comm stages, const c10::Device& device) {
  return std::make_unique<MpiTransport>(stages, device);
}

}  // namespace clrp::dist

#include "attention_edges.hpp"

#include <ATen/ATen.h>

#include <limits>

namespace clrp::graph::detail {

EdgeBlock attention_edge_block(const AttentionEdgeInputs& in,
                               const std::vector<std::int64_t>& targets) {
  const std::int64_t rows = static_cast<std::int64_t>(targets.size());
  const std::int64_t keys = targets.back() + 1;
  const at::Tensor idx = at::tensor(targets, at::kLong).to(in.q.device());
  const at::Tensor q = in.q.index_select(1, idx);  // [heads, rows, hd]
  const at::Tensor k = in.k.narrow(1, 0, keys), v = in.v.narrow(1, 0, keys);
  const at::Tensor g = in.g_heads.index_select(1, idx);

  // S stays finite (masked entries get P = 0, so every product below is 0 there).
  const at::Tensor s = at::matmul(q, k.transpose(-1, -2)) * in.scale;  // [heads, rows, keys]
  const at::Tensor positions = at::arange(keys, idx.options());
  at::Tensor allowed = positions.unsqueeze(0) <= idx.unsqueeze(1);  // causal
  if (in.allowed.defined())
    allowed = in.allowed.index_select(0, idx).narrow(1, 0, keys).logical_and(allowed);
  const at::Tensor p = at::softmax(
      s.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity()), -1);
  const at::Tensor dp = at::matmul(g, v.transpose(-1, -2));
  const at::Tensor ds = p * (dp - (p * dp).sum(-1, true));

  at::Tensor a = at::zeros({rows, keys}, s.options());
  if (in.v_share != 0) {
    const at::Tensor gv = in.v_linear.defined()
                              ? at::matmul(g, in.v_linear.narrow(1, 0, keys).transpose(-1, -2))
                              : dp;
    a += in.v_share * (p * gv).sum(0);
  }
  at::Tensor diag = in.diagonal.index_select(0, idx.cpu()).to(s.device(), s.scalar_type());
  if (in.k_share != 0) {
    const at::Tensor qk =
        in.k_linear.defined()
            ? at::matmul(q, in.k_linear.narrow(1, 0, keys).transpose(-1, -2)) * in.scale
            : s;
    a += in.k_share * (ds * qk).sum(0);
  }
  if (in.q_share != 0) {
    const at::Tensor qk =
        in.q_linear.defined()
            ? at::matmul(in.q_linear.index_select(1, idx), k.transpose(-1, -2)) * in.scale
            : s;
    diag = diag + in.q_share * (ds * qk).sum(at::IntArrayRef{0, 2});
  }
  // The diagonal (query and residual paths) lands on each target's own column.
  a.scatter_add_(1, idx.unsqueeze(1), diag.unsqueeze(1));
  return EdgeBlock{targets, a.to(at::kCPU, at::kFloat), false};
}

}  // namespace clrp::graph::detail

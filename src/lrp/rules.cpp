#include "clrp/lrp/rules.hpp"

#include <ATen/ATen.h>

#include <string>

namespace clrp::lrp {

at::Tensor share_of(const at::Tensor& g, double share) {
  if (share == 1) return g;
  if (share == 0) return at::zeros_like(g);
  return g * share;
}

at::Tensor identity_rule(const at::Tensor& g_y, const at::Tensor& x, const at::Tensor& y) {
  return g_y * (y / (x + kIdentityRuleEps));
}

at::Tensor rmsnorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& r) {
  const at::Tensor wg = g_y * weight;
  if (describe(rule).constant_norms) return wg * r;
  return wg * r - x * r.pow(3) * (x * wg).mean(-1, true);
}

at::Tensor layernorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                              const at::Tensor& weight, const at::Tensor& r) {
  const at::Tensor wg = g_y * weight;
  if (describe(rule).constant_norms) {
    const at::Tensor u = wg * r;
    return u - u.mean(-1, true);
  }
  const at::Tensor x_hat = (x - x.mean(-1, true)) * r;
  return r * (wg - wg.mean(-1, true) - x_hat * (wg * x_hat).mean(-1, true));
}

at::Tensor softmax_backward(const at::Tensor& g_p, const at::Tensor& p) {
  return p * (g_p - (g_p * p).sum(-1, true));
}

at::Tensor rotary_backward(const at::Tensor& g_y, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t rd = cos.size(-1), hd = g_y.size(-1);
  const at::Tensor gr = rd == hd ? g_y : g_y.narrow(-1, 0, rd);
  const at::Tensor gs = gr * sin;
  const at::Tensor back =
      at::cat({gs.narrow(-1, rd / 2, rd / 2), -gs.narrow(-1, 0, rd / 2)}, -1);  // rotᵀ(g·sin)
  const at::Tensor out = gr * cos + back;
  return rd == hd ? out : at::cat({out, g_y.narrow(-1, rd, hd - rd)}, -1);
}

}  // namespace clrp::lrp

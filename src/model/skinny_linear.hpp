// y = x·Wᵀ + b for a handful of rows — a decoding step, one token per
// sequence — reading each weight once.
//
// A decoding step multiplies a few rows by every weight matrix of the model.
// The weights (540 MB for SmolLM2-135M in float32) stream from memory once per
// step and the arithmetic per weight is small, so the step can go as fast as
// that stream. A general GEMM first packs W into panels, which reads and
// writes W once more per call: with MKL on this project's AMD CPUs that copy
// was half of a batch-16 decoding step (perf; docs/performance.md). This
// kernel reads a block of four W rows once and multiplies it with every row
// of x while it sits in L1.
//
// Each output is the same sum in the same order whatever the number of rows
// and wherever its row sits in x, so a sequence decoded in a batch gets the
// bits it gets alone. Internal to the model module (decoder.cpp uses it).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace clrp::model::detail {

/// The most rows (tokens) skinny_linear() takes; more is a GEMM's work.
constexpr std::int64_t kSkinnyRows = 32;

/// Whether skinny_linear() computes linear(x, weight, bias) here: float32 on
/// the CPU, at most kSkinnyRows rows, a contiguous 2-D weight, nothing that
/// needs autograd.
bool skinny_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// x [..., K] · weight [N, K]ᵀ + bias [N] (bias may be undefined): at::linear's
/// result up to float rounding (the sums run in another order).
at::Tensor skinny_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

/// at::linear, or skinny_linear() where it applies.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

}  // namespace clrp::model::detail

// Incremental decoding equals full recomputation. The models come from the
// oracle tests (tests/oracle/test_evaluate_kv_cache.py builds tiny models of
// every family and names them, with SmolLM2, in CLRP_KV_CACHE_MODELS, a
// colon-separated list); without it the test is skipped.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/model/kv_cache.hpp"
#include "paths_from_env.hpp"

namespace {

using namespace clrp::model;

std::vector<std::string> models() {
  return clrp::test::paths_from_env("CLRP_KV_CACHE_MODELS");
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(KvCache, IncrementalEqualsFullRecomputation) {
  const auto paths = models();
  if (paths.empty()) GTEST_SKIP() << "CLRP_KV_CACHE_MODELS not set (run the oracle test)";
  c10::InferenceMode guard;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const Checkpoint ck = Checkpoint::open(path);
    const DecoderModel model(ck);
    // 40 tokens: past the 16-token sliding windows of the tiny models.
    const std::int64_t t = 40;
    at::manual_seed(7);
    const std::int64_t vocab = std::min<std::int64_t>(ck.config().vocab_size, 300);
    const at::Tensor ids = at::randint(1, vocab, {1, t}, at::kLong);
    const at::Tensor full = model.forward(ids)[0];
    const double scale = full.abs().max().item<double>();
    const double tol = 1e-4;

    // Chunks of 17, then one token at a time, then a chunk of 5 and the rest.
    KvCache cache;
    std::vector<at::Tensor> rows;
    std::int64_t at_ = 0;
    auto feed = [&](std::int64_t n) {
      rows.push_back(model.forward_cached(ids.narrow(1, at_, n), cache)[0]);
      at_ += n;
      EXPECT_EQ(cache.length, at_);
    };
    feed(17);
    for (int i = 0; i < 10; ++i)
      feed(1);
    feed(5);
    feed(t - at_);
    const at::Tensor inc = at::cat(rows, 0);
    EXPECT_LE(max_diff(inc, full), tol) << "logit scale " << scale;

    // A fork truncated to 20 tokens continues like the full pass.
    KvCache fork = cache.truncated(20);
    const at::Tensor again = model.forward_cached(ids.narrow(1, 20, 10), fork)[0];
    EXPECT_LE(max_diff(again, full.narrow(0, 20, 10)), tol);
    EXPECT_EQ(cache.length, t);  // the original is untouched

    // Two continuations of one prefix as a batch: each equals its own full pass.
    KvCache base = cache.truncated(30);
    const at::Tensor other = at::randint(1, vocab, {1, 10}, at::kLong);
    const at::Tensor both = at::cat({ids.narrow(1, 30, 10), other}, 0);
    KvCache batch = base.expanded(2);
    const at::Tensor out = model.forward_cached(both, batch);
    EXPECT_LE(max_diff(out[0], full.narrow(0, 30, 10)), tol);
    const at::Tensor full_other = model.forward(at::cat({ids.narrow(1, 0, 30), other}, 1))[0];
    EXPECT_LE(max_diff(out[1], full_other.narrow(0, 30, 10)), tol);

    // last_only gives the last row.
    KvCache one;
    const at::Tensor last = model.forward_cached(ids, one, true)[0];
    EXPECT_EQ(last.size(0), 1);
    EXPECT_LE(max_diff(last[0], full[t - 1]), tol);
  }
}

// The rows of DecoderModel::forward_step are independent sequences of
// different lengths, one of them a fork of another's prefix: each row's
// logits equal the full pass over its own sequence, the forked cache is left
// intact (copy on write), and the batch keeps going as rows join and leave.
TEST(KvCache, BatchedStepsEqualEachSequenceAlone) {
  const auto paths = models();
  if (paths.empty()) GTEST_SKIP() << "CLRP_KV_CACHE_MODELS not set (run the oracle test)";
  c10::InferenceMode guard;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const Checkpoint ck = Checkpoint::open(path);
    const DecoderModel model(ck);
    at::manual_seed(11);
    const std::int64_t vocab = std::min<std::int64_t>(ck.config().vocab_size, 300);
    auto tokens = [&](std::int64_t n) {
      const at::Tensor t = at::randint(1, vocab, {n}, at::kLong);
      return std::vector<std::int64_t>(t.data_ptr<std::int64_t>(), t.data_ptr<std::int64_t>() + n);
    };
    // a: 40 tokens; b: a's first 25 then its own 10 (a fork); c: 12 tokens.
    std::vector<std::vector<std::int64_t>> seq{tokens(40), {}, tokens(12)};
    seq[1].assign(seq[0].begin(), seq[0].begin() + 25);
    for (auto x : tokens(10))
      seq[1].push_back(x);
    auto ids = [](const std::vector<std::int64_t>& v) {
      return at::tensor(v, at::kLong).unsqueeze(0);
    };
    std::vector<KvCache> caches(3);
    model.forward_cached(ids(seq[0]), caches[0]);
    caches[1] = caches[0].truncated(25);
    model.forward_cached(ids({seq[1].begin() + 25, seq[1].end()}), caches[1]);
    model.forward_cached(ids(seq[2]), caches[2]);
    // Six steps; c leaves after three, a fresh copy of a's cache joins then.
    std::vector<std::size_t> rows{0, 1, 2};
    for (int step = 0; step < 6; ++step) {
      if (step == 3) {
        rows = {0, 1, 3};
        seq.push_back(seq[0]);
        caches.push_back(caches[0]);
      }
      std::vector<std::int32_t> next;
      std::vector<KvCache*> batch;
      for (std::size_t r : rows) {
        next.push_back(
            static_cast<std::int32_t>(1 + (step * 37 + static_cast<int>(r) * 11) % (vocab - 1)));
        seq[r].push_back(next.back());
        batch.push_back(&caches[r]);
      }
      const at::Tensor logits = model.forward_step(next, batch);
      ASSERT_EQ(logits.size(0), static_cast<std::int64_t>(rows.size()));
      for (std::size_t j = 0; j < rows.size(); ++j) {
        const at::Tensor full = model.forward(ids(seq[rows[j]]))[0][-1].to(at::kFloat);
        EXPECT_LE(max_diff(logits[static_cast<std::int64_t>(j)], full), 1e-4)
            << "row " << rows[j] << " step " << step;
        EXPECT_EQ(caches[rows[j]].length, static_cast<std::int64_t>(seq[rows[j]].size()));
      }
    }
    // a's prefix, which b forked and both a and its copy extended, still reads right.
    KvCache again = caches[0].truncated(25);
    const std::vector<std::int64_t> tail{5, 6, 7};
    std::vector<std::int64_t> whole(seq[0].begin(), seq[0].begin() + 25);
    whole.insert(whole.end(), tail.begin(), tail.end());
    EXPECT_LE(max_diff(model.forward_cached(ids(tail), again)[0],
                       model.forward(ids(whole))[0].narrow(0, 25, 3)),
              1e-4);
  }
}

TEST(KvCache, TruncationBeyondLengthIsAnError) {
  KvCache c;
  c.length = 3;
  EXPECT_THROW(c.truncated(4), std::exception);
  EXPECT_NO_THROW(c.truncated(3));
}

}  // namespace

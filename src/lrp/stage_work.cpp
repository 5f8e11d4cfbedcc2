#include "clrp/lrp/stage_work.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <boost/serialization/vector.hpp>
#include <cmath>

#include "clrp/dist/message.hpp"
#include "clrp/dist/tensor_blob.hpp"
#include "clrp/util/error.hpp"

namespace clrp::lrp {

namespace {

// The fields of an explanation part that travel to stage 0, in a fixed order
// (the input gradient stays: it is the seam, already handed down).
std::vector<at::Tensor*> travelling_fields(Explanation& e) {
  return {&e.target,           &e.logits,          &e.token_relevance,   &e.position_relevance,
          &e.mid_relevance,    &e.layer_relevance, &e.head_relevance,    &e.neuron_ids,
          &e.neuron_relevance, &e.bias_absorbed,   &e.head_bias_absorbed};
}

// A stage's part of one micro-batch: [rule][field].
using PartFields = std::vector<std::vector<dist::TensorBlob>>;

// The stage's layers must sit where its place in the pipeline says.
void check_stage(const dist::Pipeline& pipeline, const model::DecoderModel& m) {
  const bool first = pipeline.stage() == 0, last = pipeline.stage() == pipeline.stages() - 1;
  if (first != m.has_embedding() || last != m.has_head())
    throw Error("pipeline stage " + std::to_string(pipeline.stage()) + " of " +
                std::to_string(pipeline.stages()) + " holds layers [" +
                std::to_string(m.layer_begin()) + "," + std::to_string(m.layer_end()) +
                "): the first stage must start at layer 0 "
                "and only the last may end at the last layer");
}

// Forward, seeds and one backward per rule, on one stage's layers.
class ExplainWork final : public dist::StageWork {
 public:
  ExplainWork(const model::DecoderModel& m, const std::vector<MicroBatch>& batches,
              const RecordOptions& record)
      : model_(m),
        engine_(m),
        batches_(batches),
        record_(record),
        states_(batches.size()),
        parts_(batches.size()),
        results_(batches.size()) {}

  dist::Tensors forward(std::size_t m, const dist::Tensors& input) override {
    const MicroBatch& mb = batches_[m];
    states_[m] = model_.has_embedding() ? engine_.forward_ids(mb.ids, mb.packing)
                                        : engine_.forward(input.at(0), true, mb.packing);
    parts_[m].assign(batches_[m].rules.size(), {});
    return {states_[m].output};
  }

  // The contrastive gradient at the top of the last stage, one per rule.
  dist::Tensors seed(std::size_t m) override {
    const MicroBatch& mb = batches_[m];
    dist::Tensors g;
    for (std::size_t r = 0; r < mb.rules.size(); ++r)
      g.push_back(engine_.seed(states_[m], mb.seeds, mb.rules[r], parts_[m][r]));
    return g;
  }

  dist::Tensors backward(std::size_t m, const dist::Tensors& top) override {
    const MicroBatch& mb = batches_[m];
    dist::Tensors down;
    for (std::size_t r = 0; r < mb.rules.size(); ++r) {
      Explanation& part = parts_[m][r];
      engine_.backward(states_[m], top.at(r), mb.rules[r], record_, part);
      // The seam goes down; stage 0 keeps its input gradient (the whole model's).
      if (!model_.has_embedding()) down.push_back(std::move(part.input_gradient));
    }
    return down;
  }

  void release(std::size_t m) override { states_[m] = {}; }

  std::string part(std::size_t m) override {
    PartFields fields;
    for (Explanation& e : parts_[m]) {
      auto& blobs = fields.emplace_back();
      for (at::Tensor* f : travelling_fields(e))
        blobs.push_back(dist::to_blob(*f));
    }
    parts_[m].clear();
    return dist::to_bytes(fields);
  }

  void merge(std::size_t m, const std::vector<std::string>& parts) override {
    std::vector<std::vector<Explanation>> stages{std::move(parts_[m])};  // [stage][rule]
    for (std::size_t s = 0; s < parts.size(); ++s) {
      const auto fields = dist::from_bytes<PartFields>(parts[s], "pipeline results",
                                                       "stage " + std::to_string(s + 1));
      require(fields.size() == stages[0].size(), Where{"pipeline"}, "malformed stage results");
      auto& rules = stages.emplace_back();
      for (const auto& blobs : fields) {
        Explanation& e = rules.emplace_back();
        const auto slots = travelling_fields(e);
        require(blobs.size() == slots.size(), Where{"pipeline"}, "malformed stage results");
        for (std::size_t i = 0; i < slots.size(); ++i)
          *slots[i] = dist::from_blob(blobs[i]);
      }
    }
    for (std::size_t r = 0; r < stages[0].size(); ++r) {
      std::vector<Explanation> per_stage;
      per_stage.reserve(stages.size());
      for (auto& s : stages)
        per_stage.push_back(std::move(s[r]));
      results_[m].push_back(merge_stage_parts(per_stage));
    }
  }

  std::vector<Explanation>& result(std::size_t m) { return results_[m]; }

 private:
  const model::DecoderModel& model_;
  Engine engine_;
  const std::vector<MicroBatch>& batches_;
  RecordOptions record_;
  std::vector<ForwardState> states_;               // per micro-batch, freed after its backward
  std::vector<std::vector<Explanation>> parts_;    // [micro-batch][rule], this stage's layers
  std::vector<std::vector<Explanation>> results_;  // [micro-batch][rule], stage 0, merged
};

// A forward-only micro-batch through one stage's layers (packed sequences
// attend within themselves); on the last stage, each sequence's first seed
// applied to the logits at its position into `values`.
at::Tensor value_forward(const model::DecoderModel& m, const MicroBatch& mb,
                         const at::Tensor& input, std::vector<double>& values) {
  c10::InferenceMode inference_mode;
  at::Tensor h = m.has_embedding()
                     ? model::zero_states(m.embed(mb.ids.unsqueeze(0), mb.packing, mb.zeroed),
                                          mb.states, model::StatePoint::Embedding, 0)
                     : input;
  h = m.run_layers(h, model::packed_positions(mb.packing, h.size(1)), mb.packing, mb.states);
  if (!m.has_head()) return h;
  const model::Packing lengths = mb.packing.size() > 1 ? mb.packing : model::Packing{h.size(1)};
  std::vector<std::int64_t> rows;
  std::int64_t offset = 0;
  for (std::size_t s = 0; s < lengths.size(); ++s) {
    const std::int64_t p = mb.seeds.at(s).position;
    rows.push_back(offset + (p < 0 ? p + lengths[s] : p));
    offset += lengths[s];
  }
  // Only the seeds' positions go through the (vocabulary-wide) unembedding.
  const at::Tensor logits =
      m.unembed(h.index_select(1, at::tensor(rows, at::kLong).to(h.device())))[0].to(at::kCPU).to(
          at::kDouble);
  values.clear();
  for (std::size_t s = 0; s < rows.size(); ++s)
    values.push_back(
        at::dot(logits[static_cast<std::int64_t>(s)], mb.seeds[s].weights.to(at::kDouble))
            .item<double>());
  return h;
}

// The plain forward and the seeds' values at the last stage.
class SeedValueWork final : public dist::StageWork {
 public:
  SeedValueWork(const model::DecoderModel& m, const std::vector<MicroBatch>& batches)
      : model_(m), batches_(batches), values_(batches.size()) {}

  dist::Tensors forward(std::size_t m, const dist::Tensors& input) override {
    return {value_forward(model_, batches_[m], model_.has_embedding() ? at::Tensor() : input.at(0),
                          values_[m])};
  }
  dist::Tensors seed(std::size_t) override { return {}; }
  dist::Tensors backward(std::size_t, const dist::Tensors&) override { return {}; }
  void release(std::size_t) override {}

  std::string part(std::size_t m) override {
    return model_.has_head() ? dist::to_bytes(values_[m]) : std::string();
  }
  void merge(std::size_t m, const std::vector<std::string>& parts) override {
    if (!parts.empty())  // the last stage's values
      values_[m] = dist::from_bytes<std::vector<double>>(parts.back(), "pipeline values",
                                                         "stage " + std::to_string(parts.size()));
  }

  /// Per micro-batch, a value per sequence (empty where its forward failed).
  const std::vector<std::vector<double>>& values() const { return values_; }

 private:
  const model::DecoderModel& model_;
  const std::vector<MicroBatch>& batches_;
  std::vector<std::vector<double>> values_;
};

// One value per sequence of `batches`, from the values of each micro-batch
// (NaN for every sequence of a micro-batch without them).
std::vector<double> flatten_values(const std::vector<MicroBatch>& batches,
                                   const std::vector<std::vector<double>>& per_batch) {
  std::vector<double> out;
  for (std::size_t m = 0; m < batches.size(); ++m) {
    const std::size_t n = batches[m].sequences();
    if (per_batch[m].size() == n)
      out.insert(out.end(), per_batch[m].begin(), per_batch[m].end());
    else
      out.insert(out.end(), n, std::nan(""));  // the caller treats NaN as "no value"
  }
  return out;
}

}  // namespace

std::vector<MicroBatchResult> explain(dist::Pipeline& pipeline,
                                      const model::DecoderModel& stage_model,
                                      const std::vector<MicroBatch>& batches,
                                      const RecordOptions& record) {
  check_stage(pipeline, stage_model);
  ExplainWork work(stage_model, batches, record);
  const std::vector<dist::Outcome> outcomes = pipeline.run(work, batches.size());
  std::vector<MicroBatchResult> out;
  for (std::size_t m = 0; m < outcomes.size(); ++m) {
    const dist::Outcome& o = outcomes[m];
    const MicroBatch& mb = batches[m];
    const std::size_t first = out.size();
    // Each sequence's share of the micro-batch's time, by its tokens.
    std::int64_t total = 0;
    for (const std::int64_t n : mb.packing)
      total += n;
    for (std::size_t s = 0; s < mb.sequences(); ++s) {
      const double share = mb.packing.size() > 1
                               ? static_cast<double>(mb.packing[s]) / static_cast<double>(total)
                               : 1.0;
      out.push_back({{}, o.error, o.forward_seconds * share, o.backward_seconds * share});
    }
    if (!o.ok()) continue;
    for (const Explanation& rule : work.result(m)) {
      std::vector<Explanation> each = unpack(rule, mb.packing);
      for (std::size_t s = 0; s < each.size(); ++s)
        out[first + s].rules.push_back(std::move(each[s]));
    }
  }
  return out;
}

std::vector<double> seed_values(dist::Pipeline& pipeline, const model::DecoderModel& stage_model,
                                const std::vector<MicroBatch>& batches) {
  check_stage(pipeline, stage_model);
  SeedValueWork work(stage_model, batches);
  const std::vector<dist::Outcome> outcomes = pipeline.stream(work, batches.size());
  if (pipeline.stage() != 0) return {};
  std::vector<std::vector<double>> values = work.values();
  for (std::size_t m = 0; m < outcomes.size(); ++m)
    if (!outcomes[m].ok()) values[m].clear();
  return flatten_values(batches, values);
}

std::vector<MicroBatch> value_batches(const std::vector<ValueInput>& inputs, std::int64_t wrong,
                                      std::int64_t correct, std::int64_t vocab) {
  std::vector<std::int64_t> lengths;
  lengths.reserve(inputs.size());
  for (const ValueInput& in : inputs)
    lengths.push_back(static_cast<std::int64_t>(in.ids.size()));
  std::vector<MicroBatch> out;
  std::size_t next = 0;
  for (const model::Packing& packing : model::pack_in_order(lengths, kValuePackTokens)) {
    MicroBatch& mb = out.emplace_back();
    mb.packing = packing.size() > 1 ? packing : model::Packing{};
    std::vector<std::int64_t> ids;
    std::vector<std::uint8_t> zeroed;
    bool any_zeroed = false;
    for (std::size_t s = 0; s < packing.size(); ++s, ++next) {
      const ValueInput& in = inputs.at(next);
      const std::size_t at = ids.size();
      ids.insert(ids.end(), in.ids.begin(), in.ids.end());
      zeroed.resize(ids.size(), 0);
      for (const std::int64_t p : in.zeroed)
        zeroed.at(at + static_cast<std::size_t>(p)) = 1;
      any_zeroed = any_zeroed || !in.zeroed.empty();
      for (model::ZeroedState state : in.states) {
        require(state.row >= 0 && state.row < static_cast<std::int64_t>(in.ids.size()),
                Where{"value inputs"}, "a zeroed state outside its input's tokens");
        state.row += static_cast<std::int64_t>(at);
        mb.states.push_back(state);
      }
      mb.seeds.push_back(Seed::contrastive(-1, wrong, correct, vocab));
    }
    mb.ids = at::tensor(ids, at::kLong);
    if (any_zeroed) mb.zeroed = at::tensor(zeroed, at::kByte).to(at::kBool);
  }
  return out;
}

std::vector<double> seed_values(const model::DecoderModel& whole_model,
                                const std::vector<MicroBatch>& batches) {
  require(whole_model.has_embedding() && whole_model.has_head(), Where{"seed values"},
          "a whole model expected");
  std::vector<std::vector<double>> values(batches.size());
  for (std::size_t m = 0; m < batches.size(); ++m) {
    try {
      value_forward(whole_model, batches[m], {}, values[m]);
    } catch (const std::exception&) {  // clrp::Error, or c10::Error (e.g. out of memory)
      values[m].clear();               // as a failed pipeline micro-batch: NaN
    }
  }
  return flatten_values(batches, values);
}

DeltaOf whole_model_delta_of(const model::DecoderModel& whole_model, std::int64_t wrong,
                             std::int64_t correct) {
  return [&whole_model, wrong, correct](const std::vector<ValueInput>& inputs) {
    return seed_values(whole_model,
                       value_batches(inputs, wrong, correct, whole_model.config().vocab_size));
  };
}

Explanation merge_stage_parts(const std::vector<Explanation>& parts) {
  require(!parts.empty(), Where{"pipeline"}, "no stage parts to merge");
  const Explanation& first = parts.front();
  const Explanation& last = parts.back();
  Explanation out;
  out.token_relevance = first.token_relevance;
  out.position_relevance = first.position_relevance;
  out.input_gradient = first.input_gradient;
  out.target = last.target;
  out.logits = last.logits;
  out.head_bias_absorbed = last.head_bias_absorbed;
  // Per-layer records: one slice per stage along the layer axis (dim 1).
  const auto cat_layers = [&](at::Tensor Explanation::*field) {
    if (!(first.*field).defined()) return at::Tensor();
    std::vector<at::Tensor> slices;
    slices.reserve(parts.size());
    for (const auto& p : parts)
      slices.push_back(p.*field);
    return at::cat(slices, 1);
  };
  out.mid_relevance = cat_layers(&Explanation::mid_relevance);
  out.layer_relevance = cat_layers(&Explanation::layer_relevance);
  out.head_relevance = cat_layers(&Explanation::head_relevance);
  out.neuron_ids = cat_layers(&Explanation::neuron_ids);
  out.neuron_relevance = cat_layers(&Explanation::neuron_relevance);
  out.bias_absorbed = cat_layers(&Explanation::bias_absorbed);
  return out;
}

}  // namespace clrp::lrp

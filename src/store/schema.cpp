#include "schema.hpp"

#include <cstring>

#include "clrp/util/error.hpp"

namespace clrp::store {

const char* const kSegmentColumnNames[kSegmentColumns] = {"instruction", "fewshot",       "context",
                                                          "needle",      "question",      "options",
                                                          "code",        "answer_prefix", "prefix"};

namespace schema {

hid_t case_row_type() {
  static const hid_t type = [] {
    const hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(CaseRow));
    H5Tinsert(t, "id_offset", HOFFSET(CaseRow, id_offset), H5T_NATIVE_UINT64);
    H5Tinsert(t, "id_length", HOFFSET(CaseRow, id_length), H5T_NATIVE_UINT32);
    H5Tinsert(t, "case_index", HOFFSET(CaseRow, case_index), H5T_NATIVE_UINT32);
    H5Tinsert(t, "token_offset", HOFFSET(CaseRow, token_offset), H5T_NATIVE_UINT64);
    H5Tinsert(t, "n_tokens", HOFFSET(CaseRow, n_tokens), H5T_NATIVE_UINT32);
    H5Tinsert(t, "prompt_tokens", HOFFSET(CaseRow, prompt_tokens), H5T_NATIVE_UINT32);
    H5Tinsert(t, "wrong_id", HOFFSET(CaseRow, wrong_id), H5T_NATIVE_INT32);
    H5Tinsert(t, "correct_id", HOFFSET(CaseRow, correct_id), H5T_NATIVE_INT32);
    H5Tinsert(t, "wrong_logit", HOFFSET(CaseRow, wrong_logit), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "correct_logit", HOFFSET(CaseRow, correct_logit), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "delta", HOFFSET(CaseRow, delta), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "pair_delta", HOFFSET(CaseRow, pair_delta), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "seconds_tokenize", HOFFSET(CaseRow, seconds_tokenize), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "seconds_forward", HOFFSET(CaseRow, seconds_forward), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "seconds_backward", HOFFSET(CaseRow, seconds_backward), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "rank", HOFFSET(CaseRow, rank), H5T_NATIVE_INT32);
    H5Tinsert(t, "reserved", HOFFSET(CaseRow, reserved), H5T_NATIVE_INT32);
    return t;
  }();
  return type;
}

namespace {

template <class T>
std::function<void(const CaseRecord&, std::vector<char>&)> take(
    const std::vector<T> CaseRecord::*member, std::size_t expected_per_token,
    std::size_t expected_fixed, const char* name) {
  return [=](const CaseRecord& r, std::vector<char>& out) {
    const std::vector<T>& v = r.*member;
    const std::size_t want =
        expected_per_token > 0 ? expected_per_token * r.tokens.size() : expected_fixed;
    if (v.size() != want)
      throw Error(std::string("store: case '") + r.case_id + "': " + name + " has " +
                  std::to_string(v.size()) + " values, expected " + std::to_string(want));
    const auto* p = reinterpret_cast<const char*>(v.data());
    out.insert(out.end(), p, p + v.size() * sizeof(T));
  };
}

}  // namespace

std::vector<Dataset> datasets(const TableInfo& t) {
  const auto R = static_cast<hsize_t>(t.R());
  const auto L = static_cast<hsize_t>(t.layers);
  const auto H = static_cast<hsize_t>(t.heads);
  const auto K = static_cast<hsize_t>(t.neurons);
  const std::size_t r = R, l = L;
  std::vector<Dataset> d;
  d.push_back(
      {"tokens", H5T_NATIVE_INT32, {}, Rows::Token, 4, take(&CaseRecord::tokens, 1, 0, "tokens")});
  d.push_back({"token_segment",
               H5T_NATIVE_INT8,
               {},
               Rows::Token,
               1,
               take(&CaseRecord::token_segment, 1, 0, "token_segment")});
  d.push_back({"token_evidence",
               H5T_NATIVE_INT8,
               {},
               Rows::Token,
               1,
               take(&CaseRecord::token_evidence, 1, 0, "token_evidence")});
  d.push_back({"token_relevance",
               H5T_NATIVE_FLOAT,
               {R},
               Rows::Token,
               4,
               take(&CaseRecord::token_relevance, r, 0, "token_relevance")});
  if (t.residual) {
    d.push_back({"layer_relevance",
                 H5T_NATIVE_FLOAT,
                 {R, L},
                 Rows::Token,
                 4,
                 take(&CaseRecord::layer_relevance, r * l, 0, "layer_relevance")});
    d.push_back({"mid_relevance",
                 H5T_NATIVE_FLOAT,
                 {R, L},
                 Rows::Token,
                 4,
                 take(&CaseRecord::mid_relevance, r * l, 0, "mid_relevance")});
  }
  d.push_back({"conservation",
               H5T_NATIVE_DOUBLE,
               {R},
               Rows::Case,
               8,
               take(&CaseRecord::conservation, 0, r, "conservation")});
  d.push_back({"segment_relevance",
               H5T_NATIVE_DOUBLE,
               {R, kSegmentColumns},
               Rows::Case,
               8,
               take(&CaseRecord::segment_relevance, 0, r * kSegmentColumns, "segment_relevance")});
  d.push_back({"bias_absorbed",
               H5T_NATIVE_FLOAT,
               {R, L},
               Rows::Case,
               4,
               take(&CaseRecord::bias_absorbed, 0, r * l, "bias_absorbed")});
  if (H > 0)
    d.push_back({"head_relevance",
                 H5T_NATIVE_FLOAT,
                 {R, L, H},
                 Rows::Case,
                 4,
                 take(&CaseRecord::head_relevance, 0, r * l * H, "head_relevance")});
  if (K > 0) {
    d.push_back({"neuron_ids",
                 H5T_NATIVE_INT32,
                 {R, L, K},
                 Rows::Case,
                 4,
                 take(&CaseRecord::neuron_ids, 0, r * l * K, "neuron_ids")});
    d.push_back({"neuron_relevance",
                 H5T_NATIVE_FLOAT,
                 {R, L, K},
                 Rows::Case,
                 4,
                 take(&CaseRecord::neuron_relevance, 0, r * l * K, "neuron_relevance")});
  }
  return d;
}

}  // namespace schema
}  // namespace clrp::store

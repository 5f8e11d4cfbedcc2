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

// Adds dataset `name` backed by the record member `member`: `per_token`
// elements per token (ragged, Rows::Token) or `fixed` elements per case
// (Rows::Case). extract() checks the count, so a record of the wrong shape is
// an error naming the case instead of a corrupt table; restore() is its
// inverse (clrp merge reads records back).
template <class T>
void add(std::vector<Dataset>& out, const char* name, hid_t type, std::vector<hsize_t> trailing,
         std::vector<T> CaseRecord::*member, std::size_t per_token, std::size_t fixed) {
  Dataset d;
  d.name = name;
  d.type = type;
  d.trailing = std::move(trailing);
  d.rows = per_token > 0 ? Rows::Token : Rows::Case;
  d.element_size = sizeof(T);
  d.extract = [=](const CaseRecord& r, std::vector<char>& bytes) {
    const std::vector<T>& v = r.*member;
    const std::size_t want = per_token > 0 ? per_token * r.tokens.size() : fixed;
    if (v.size() != want)
      throw Error(std::string("store: case '") + r.case_id + "': " + name + " has " +
                  std::to_string(v.size()) + " values, expected " + std::to_string(want));
    const auto* p = reinterpret_cast<const char*>(v.data());
    bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
  };
  d.restore = [=](const char* bytes, std::size_t rows, CaseRecord& r) {
    const std::size_t n = rows * (per_token > 0 ? per_token : fixed);
    std::vector<T>& v = r.*member;
    v.resize(n);
    std::memcpy(v.data(), bytes, n * sizeof(T));
  };
  out.push_back(std::move(d));
}

}  // namespace

std::vector<Dataset> datasets(const TableInfo& t) {
  const auto R = static_cast<hsize_t>(t.R());
  const auto L = static_cast<hsize_t>(t.layers);
  const auto H = static_cast<hsize_t>(t.heads);
  const auto K = static_cast<hsize_t>(t.neurons);
  const std::size_t r = R, l = L, h = H, k = K, S = kSegmentColumns;
  std::vector<Dataset> d;
  add(d, "tokens", H5T_NATIVE_INT32, {}, &CaseRecord::tokens, 1, 0);
  add(d, "token_segment", H5T_NATIVE_INT8, {}, &CaseRecord::token_segment, 1, 0);
  add(d, "token_evidence", H5T_NATIVE_INT8, {}, &CaseRecord::token_evidence, 1, 0);
  add(d, "token_relevance", H5T_NATIVE_FLOAT, {R}, &CaseRecord::token_relevance, r, 0);
  if (t.residual) {
    add(d, "layer_relevance", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::layer_relevance, r * l, 0);
    add(d, "mid_relevance", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::mid_relevance, r * l, 0);
  }
  add(d, "conservation", H5T_NATIVE_DOUBLE, {R}, &CaseRecord::conservation, 0, r);
  add(d, "segment_relevance", H5T_NATIVE_DOUBLE, {R, kSegmentColumns},
      &CaseRecord::segment_relevance, 0, r * S);
  add(d, "bias_absorbed", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::bias_absorbed, 0, r * l);
  if (H > 0)
    add(d, "head_relevance", H5T_NATIVE_FLOAT, {R, L, H}, &CaseRecord::head_relevance, 0,
        r * l * h);
  if (K > 0) {
    add(d, "neuron_ids", H5T_NATIVE_INT32, {R, L, K}, &CaseRecord::neuron_ids, 0, r * l * k);
    add(d, "neuron_relevance", H5T_NATIVE_FLOAT, {R, L, K}, &CaseRecord::neuron_relevance, 0,
        r * l * k);
  }
  return d;
}

}  // namespace schema
}  // namespace clrp::store

#include "schema.hpp"

#include <cstring>

#include "clrp/util/error.hpp"

namespace clrp::store {

const char* const kSegmentColumnNames[kSegmentColumns] = {"instruction", "fewshot",       "context",
                                                          "needle",      "question",      "options",
                                                          "code",        "answer_prefix", "prefix"};

const char* const kGraphSummaryColumnNames[kGraphSummaryColumns] = {
    "nodes",           "edges",       "target", "first_token_share", "other_tokens_share",
    "self_bias_share", "mean_fan_in", "seconds"};

namespace schema {

std::uint64_t rows_of(Rows kind, const CaseRecord& r) {
  switch (kind) {
    case Rows::Case:
      return 1;
    case Rows::Token:
      return r.tokens.size();
    case Rows::IdByte:
      return r.case_id.size();
    case Rows::GraphNode:
      return r.graph_node_layer.size();
    case Rows::GraphEdge:
      return r.graph_edge_source.size();
  }
  return 0;
}

std::uint64_t offset_of(Rows kind, const CaseRow& row) {
  switch (kind) {
    case Rows::Case:
      return 0;
    case Rows::Token:
      return row.token_offset;
    case Rows::IdByte:
      return row.id_offset;
    case Rows::GraphNode:
      return row.graph_node_offset;
    case Rows::GraphEdge:
      return row.graph_edge_offset;
  }
  return 0;
}

std::uint64_t length_of(Rows kind, const CaseRow& row) {
  switch (kind) {
    case Rows::Case:
      return 1;
    case Rows::Token:
      return row.n_tokens;
    case Rows::IdByte:
      return row.id_length;
    case Rows::GraphNode:
      return row.n_graph_nodes;
    case Rows::GraphEdge:
      return row.n_graph_edges;
  }
  return 0;
}

const char* committed_attr(Rows kind) {
  switch (kind) {
    case Rows::Case:
      return "committed_rows";
    case Rows::Token:
      return "committed_tokens";
    case Rows::IdByte:
      return "committed_id_bytes";
    case Rows::GraphNode:
      return "committed_graph_nodes";
    case Rows::GraphEdge:
      return "committed_graph_edges";
  }
  return "";
}

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
    H5Tinsert(t, "graph_node_offset", HOFFSET(CaseRow, graph_node_offset), H5T_NATIVE_UINT64);
    H5Tinsert(t, "graph_edge_offset", HOFFSET(CaseRow, graph_edge_offset), H5T_NATIVE_UINT64);
    H5Tinsert(t, "n_graph_nodes", HOFFSET(CaseRow, n_graph_nodes), H5T_NATIVE_UINT32);
    H5Tinsert(t, "n_graph_edges", HOFFSET(CaseRow, n_graph_edges), H5T_NATIVE_UINT32);
    return t;
  }();
  return type;
}

namespace {

// Adds dataset `name` backed by the record member `member`: `per_row`
// elements per row of `kind` (ragged runs per token or per graph node/edge, or
// one row per case). extract() checks the count, so a record of the wrong
// shape is an error naming the case instead of a corrupt table; restore() is
// its inverse (clrp merge reads records back).
template <class T>
void add(std::vector<Dataset>& out, const char* name, hid_t type, std::vector<hsize_t> trailing,
         std::vector<T> CaseRecord::*member, Rows kind, std::size_t per_row) {
  Dataset d;
  d.name = name;
  d.type = type;
  d.trailing = std::move(trailing);
  d.rows = kind;
  d.element_size = sizeof(T);
  d.extract = [=](const CaseRecord& r, std::vector<char>& bytes) {
    const std::vector<T>& v = r.*member;
    const std::size_t want = per_row * rows_of(kind, r);
    if (v.size() != want)
      throw Error(std::string("store: case '") + r.case_id + "': " + name + " has " +
                  std::to_string(v.size()) + " values, expected " + std::to_string(want));
    const auto* p = reinterpret_cast<const char*>(v.data());
    bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
  };
  d.restore = [=](const char* bytes, std::size_t rows, CaseRecord& r) {
    const std::size_t n = rows * per_row;
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
  using enum Rows;
  add(d, "tokens", H5T_NATIVE_INT32, {}, &CaseRecord::tokens, Token, 1);
  add(d, "token_segment", H5T_NATIVE_INT8, {}, &CaseRecord::token_segment, Token, 1);
  add(d, "token_evidence", H5T_NATIVE_INT8, {}, &CaseRecord::token_evidence, Token, 1);
  add(d, "token_relevance", H5T_NATIVE_FLOAT, {R}, &CaseRecord::token_relevance, Token, r);
  if (t.residual) {
    add(d, "layer_relevance", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::layer_relevance, Token, r * l);
    add(d, "mid_relevance", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::mid_relevance, Token, r * l);
  }
  add(d, "conservation", H5T_NATIVE_DOUBLE, {R}, &CaseRecord::conservation, Case, r);
  add(d, "segment_relevance", H5T_NATIVE_DOUBLE, {R, kSegmentColumns},
      &CaseRecord::segment_relevance, Case, r * S);
  add(d, "bias_absorbed", H5T_NATIVE_FLOAT, {R, L}, &CaseRecord::bias_absorbed, Case, r * l);
  if (t.deletion_max_tokens > 0)
    add(d, "deletion_tokens", H5T_NATIVE_INT32, {R + 1}, &CaseRecord::deletion_tokens, Case, r + 1);
  if (H > 0)
    add(d, "head_relevance", H5T_NATIVE_FLOAT, {R, L, H}, &CaseRecord::head_relevance, Case,
        r * l * h);
  if (K > 0) {
    add(d, "neuron_ids", H5T_NATIVE_INT32, {R, L, K}, &CaseRecord::neuron_ids, Case, r * l * k);
    add(d, "neuron_relevance", H5T_NATIVE_FLOAT, {R, L, K}, &CaseRecord::neuron_relevance, Case,
        r * l * k);
  }
  if (t.graphs) {
    const auto G = static_cast<hsize_t>(kGraphSummaryColumns);
    add(d, "graph_summary", H5T_NATIVE_DOUBLE, {G}, &CaseRecord::graph_summary, Case, G);
    add(d, "graph_node_layer", H5T_NATIVE_INT16, {}, &CaseRecord::graph_node_layer, GraphNode, 1);
    add(d, "graph_node_position", H5T_NATIVE_INT32, {}, &CaseRecord::graph_node_position, GraphNode,
        1);
    add(d, "graph_node_relevance", H5T_NATIVE_FLOAT, {}, &CaseRecord::graph_node_relevance,
        GraphNode, 1);
    add(d, "graph_node_remainder", H5T_NATIVE_FLOAT, {}, &CaseRecord::graph_node_remainder,
        GraphNode, 1);
    add(d, "graph_edge_source", H5T_NATIVE_INT32, {}, &CaseRecord::graph_edge_source, GraphEdge, 1);
    add(d, "graph_edge_target", H5T_NATIVE_INT32, {}, &CaseRecord::graph_edge_target, GraphEdge, 1);
    add(d, "graph_edge_weight", H5T_NATIVE_FLOAT, {}, &CaseRecord::graph_edge_weight, GraphEdge, 1);
  }
  return d;
}

}  // namespace schema
}  // namespace clrp::store

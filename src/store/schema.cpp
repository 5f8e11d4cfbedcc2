#include "schema.hpp"

#include <cstring>
#include <optional>
#include <type_traits>

#include "clrp/util/error.hpp"
#include "h5.hpp"

namespace clrp::store {

const char* const kSegmentColumnNames[kSegmentColumns] = {
    "instruction", "fewshot",       "context",  "needle",   "question", "options",
    "code",        "answer_prefix", "template", "thinking", "prefix"};

const char* const kGraphSummaryColumnNames[kGraphSummaryColumns] = {"nodes",
                                                                    "edges",
                                                                    "target",
                                                                    "first_token_share",
                                                                    "other_tokens_share",
                                                                    "self_bias_share",
                                                                    "mean_fan_in",
                                                                    "intervention_correlation",
                                                                    "kept_share",
                                                                    "seconds"};

namespace schema {

namespace {

using enum Rows;

template <class T>
constexpr bool kNoNativeType = false;

template <class T>
hid_t native() {
  if constexpr (std::is_same_v<T, std::int8_t>)
    return H5T_NATIVE_INT8;
  else if constexpr (std::is_same_v<T, std::int16_t>)
    return H5T_NATIVE_INT16;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return H5T_NATIVE_INT32;
  else if constexpr (std::is_same_v<T, std::uint32_t>)
    return H5T_NATIVE_UINT32;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return H5T_NATIVE_UINT64;
  else if constexpr (std::is_same_v<T, float>)
    return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>)
    return H5T_NATIVE_DOUBLE;
  else
    static_assert(kNoNativeType<T>, "add the HDF5 native type of this member type here");
}

// The type of the record member `Member` points to (its element type for a vector).
template <auto Member>
using MemberType = std::remove_cvref_t<decltype(std::declval<CaseRecord>().*Member)>;

// ----- the columns of `cases` ----------------------------------------------

// A scalar of the record, stored as is.
template <auto Member>
CaseColumn field(const char* name) {
  using T = MemberType<Member>;
  return {name,
          native<T>(),
          sizeof(T),
          CaseColumn::Role::Field,
          Case,
          [](const CaseRecord& r, char* column) { std::memcpy(column, &(r.*Member), sizeof(T)); },
          [](const char* column, CaseRecord& r) { std::memcpy(&(r.*Member), column, sizeof(T)); }};
}
// Where the case's run of `rows` rows starts in their datasets (uint64).
CaseColumn offset(const char* name, Rows rows) {
  return {name, H5T_NATIVE_UINT64, 8, CaseColumn::Role::Offset, rows, nullptr, nullptr};
}
// How many `rows` rows the case has (uint32).
CaseColumn length(const char* name, Rows rows) {
  return {name, H5T_NATIVE_UINT32, 4, CaseColumn::Role::Length, rows, nullptr, nullptr};
}
// Always 0: keeps the 8-byte columns after it aligned without hidden padding.
CaseColumn zero(const char* name) {
  return {name, H5T_NATIVE_INT32, 4, CaseColumn::Role::Zero, Case, nullptr, nullptr};
}

std::vector<CaseColumn> make_case_columns() {
  return {
      offset("id_offset", IdByte),
      length("id_length", IdByte),
      field<&CaseRecord::case_index>("case_index"),
      offset("token_offset", Token),
      length("n_tokens", Token),
      field<&CaseRecord::prompt_tokens>("prompt_tokens"),
      field<&CaseRecord::wrong_id>("wrong_id"),
      field<&CaseRecord::correct_id>("correct_id"),
      field<&CaseRecord::wrong_logit>("wrong_logit"),
      field<&CaseRecord::correct_logit>("correct_logit"),
      field<&CaseRecord::delta>("delta"),
      field<&CaseRecord::pair_delta>("pair_delta"),
      field<&CaseRecord::seconds_tokenize>("seconds_tokenize"),
      field<&CaseRecord::seconds_forward>("seconds_forward"),
      field<&CaseRecord::seconds_backward>("seconds_backward"),
      field<&CaseRecord::rank>("rank"),
      zero("reserved"),
      offset("graph_node_offset", GraphNode),
      offset("graph_edge_offset", GraphEdge),
      length("n_graph_nodes", GraphNode),
      length("n_graph_edges", GraphEdge),
  };
}

// The row layout C would give a struct of these members in this order: each
// column aligned to its size, the row padded to its widest column.
struct Layout {
  std::vector<std::size_t> offsets;
  std::size_t size = 0;
  // Index into case_columns() of each kind's offset and length column (the
  // Rows::Case entries are unused).
  std::array<std::size_t, kRowKinds> offset_column{}, length_column{};
};

const Layout& layout() {
  static const Layout l = [] {
    Layout out;
    std::size_t at = 0, widest = 1;
    const auto& columns = case_columns();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const CaseColumn& c = columns[i];
      at = (at + c.size - 1) / c.size * c.size;
      out.offsets.push_back(at);
      at += c.size;
      widest = std::max(widest, c.size);
      if (c.role == CaseColumn::Role::Offset) out.offset_column[kind_index(c.rows)] = i;
      if (c.role == CaseColumn::Role::Length) out.length_column[kind_index(c.rows)] = i;
    }
    out.size = (at + widest - 1) / widest * widest;
    return out;
  }();
  return l;
}

// ----- the arrays ------------------------------------------------------------

// A dataset's trailing dimensions for a table, or nothing where the table does
// not record it.
using Shape = std::optional<std::vector<hsize_t>> (*)(const TableInfo&);

struct Dims {
  hsize_t R, L, H, K;
  explicit Dims(const TableInfo& t)
      : R(static_cast<hsize_t>(t.R())),
        L(static_cast<hsize_t>(t.layers)),
        H(static_cast<hsize_t>(t.heads)),
        K(static_cast<hsize_t>(t.neurons)) {}
};
using Trailing = std::optional<std::vector<hsize_t>>;

Trailing scalar(const TableInfo&) {
  return std::vector<hsize_t>{};
}
Trailing per_rule(const TableInfo& t) {
  return std::vector{Dims(t).R};
}
Trailing per_rule_segment(const TableInfo& t) {
  return std::vector{Dims(t).R, hsize_t{kSegmentColumns}};
}
Trailing per_rule_layer(const TableInfo& t) {
  return std::vector{Dims(t).R, Dims(t).L};
}
Trailing per_rule_layer_if_residual(const TableInfo& t) {
  return t.residual ? per_rule_layer(t) : std::nullopt;
}
Trailing per_rule_and_random_if_deletion(const TableInfo& t) {
  return t.deletion_max_tokens > 0 ? Trailing(std::vector{Dims(t).R + 1}) : std::nullopt;
}
// Faithfulness arrays: nothing without curves; O operators, S steps.
Trailing faithfulness_scalar(const TableInfo& t) {
  return t.faithfulness() ? Trailing(std::vector<hsize_t>{}) : std::nullopt;
}
Trailing per_rule_if_faithfulness(const TableInfo& t) {
  return t.faithfulness() ? per_rule(t) : std::nullopt;
}
Trailing faithfulness_steps(const TableInfo& t) {
  return t.faithfulness() ? Trailing(std::vector{static_cast<hsize_t>(t.faithfulness_steps())})
                          : std::nullopt;
}
Trailing faithfulness_curves(const TableInfo& t) {
  const hsize_t O = t.removal_operators.size(), S = static_cast<hsize_t>(t.faithfulness_steps());
  return t.faithfulness() ? Trailing(std::vector{O, 2 * Dims(t).R + 1, S}) : std::nullopt;
}
Trailing faithfulness_areas(const TableInfo& t) {
  return t.faithfulness()
             ? Trailing(std::vector{hsize_t{t.removal_operators.size()}, Dims(t).R, hsize_t{2}})
             : std::nullopt;
}
Trailing faithfulness_flips(const TableInfo& t) {
  return t.faithfulness()
             ? Trailing(std::vector{hsize_t{t.removal_operators.size()}, Dims(t).R + 1})
             : std::nullopt;
}
Trailing per_rule_layer_head(const TableInfo& t) {
  const Dims d(t);
  return d.H > 0 ? Trailing(std::vector{d.R, d.L, d.H}) : std::nullopt;
}
Trailing per_rule_layer_neuron(const TableInfo& t) {
  const Dims d(t);
  return d.K > 0 ? Trailing(std::vector{d.R, d.L, d.K}) : std::nullopt;
}
Trailing graph_summary(const TableInfo& t) {
  return t.graphs ? Trailing(std::vector{hsize_t{kGraphSummaryColumns}}) : std::nullopt;
}
Trailing scalar_if_graphs(const TableInfo& t) {
  return t.graphs ? scalar(t) : std::nullopt;
}

struct Array {
  const char* name;
  Rows rows;
  Shape shape;
  Dataset (*make)(const char* name, Rows rows, std::vector<hsize_t> trailing);
};

// Dataset `name` backed by the record member `Member`: one row per row of
// `kind` (a ragged run per token or per graph node/edge, or one row per case),
// `trailing` elements each. extract() checks the count, so a record of the
// wrong shape is an error naming the case instead of a corrupt table;
// restore() is its inverse (clrp merge reads records back).
template <auto Member>
Dataset make_dataset(const char* name, Rows kind, std::vector<hsize_t> trailing) {
  using T = typename MemberType<Member>::value_type;
  Dataset d;
  d.name = name;
  d.type = native<T>();
  d.trailing = std::move(trailing);
  d.rows = kind;
  d.element_size = sizeof(T);
  std::size_t per_row = 1;
  for (auto n : d.trailing)
    per_row *= n;
  d.extract = [=](const CaseRecord& r, std::vector<char>& bytes) {
    const std::vector<T>& v = r.*Member;
    const std::size_t want = per_row * rows_of(kind, r);
    if (v.size() != want)
      throw Error(std::string("store: case '") + r.case_id + "': " + name + " has " +
                  std::to_string(v.size()) + " values, expected " + std::to_string(want));
    const auto* p = reinterpret_cast<const char*>(v.data());
    bytes.insert(bytes.end(), p, p + v.size() * sizeof(T));
  };
  d.restore = [=](const char* bytes, std::size_t rows, CaseRecord& r) {
    const std::size_t n = rows * per_row;
    std::vector<T>& v = r.*Member;
    v.resize(n);
    std::memcpy(v.data(), bytes, n * sizeof(T));
  };
  return d;
}

template <auto Member>
constexpr Array array(const char* name, Rows rows, Shape shape) {
  return {name, rows, shape, &make_dataset<Member>};
}

// Every array a table may hold, in the order they are created. R rules, L
// layers, H heads, K recorded neurons per layer (record.hpp has the meanings).
constexpr Array kArrays[] = {
    array<&CaseRecord::tokens>("tokens", Token, scalar),
    array<&CaseRecord::token_segment>("token_segment", Token, scalar),
    array<&CaseRecord::token_evidence>("token_evidence", Token, scalar),
    array<&CaseRecord::token_relevance>("token_relevance", Token, per_rule),
    array<&CaseRecord::layer_relevance>("layer_relevance", Token, per_rule_layer_if_residual),
    array<&CaseRecord::mid_relevance>("mid_relevance", Token, per_rule_layer_if_residual),
    array<&CaseRecord::conservation>("conservation", Case, per_rule),
    array<&CaseRecord::segment_relevance>("segment_relevance", Case, per_rule_segment),
    array<&CaseRecord::bias_absorbed>("bias_absorbed", Case, per_rule_layer),
    array<&CaseRecord::deletion_tokens>("deletion_tokens", Case, per_rule_and_random_if_deletion),
    array<&CaseRecord::faithfulness_candidates>("faithfulness_candidates", Case,
                                                faithfulness_scalar),
    array<&CaseRecord::faithfulness_steps>("faithfulness_steps", Case, faithfulness_steps),
    array<&CaseRecord::faithfulness_delta>("faithfulness_delta", Case, faithfulness_curves),
    array<&CaseRecord::faithfulness_area>("faithfulness_area", Case, faithfulness_areas),
    array<&CaseRecord::faithfulness_flip>("faithfulness_flip", Case, faithfulness_flips),
    array<&CaseRecord::outcome>("outcome", Case, per_rule_if_faithfulness),
    array<&CaseRecord::pattern>("pattern", Case, per_rule_if_faithfulness),
    array<&CaseRecord::head_relevance>("head_relevance", Case, per_rule_layer_head),
    array<&CaseRecord::neuron_ids>("neuron_ids", Case, per_rule_layer_neuron),
    array<&CaseRecord::neuron_relevance>("neuron_relevance", Case, per_rule_layer_neuron),
    array<&CaseRecord::graph_summary>("graph_summary", Case, graph_summary),
    array<&CaseRecord::graph_node_layer>("graph_node_layer", GraphNode, scalar_if_graphs),
    array<&CaseRecord::graph_node_position>("graph_node_position", GraphNode, scalar_if_graphs),
    array<&CaseRecord::graph_node_relevance>("graph_node_relevance", GraphNode, scalar_if_graphs),
    array<&CaseRecord::graph_node_remainder>("graph_node_remainder", GraphNode, scalar_if_graphs),
    array<&CaseRecord::graph_node_ablation>("graph_node_ablation", GraphNode, scalar_if_graphs),
    array<&CaseRecord::graph_edge_source>("graph_edge_source", GraphEdge, scalar_if_graphs),
    array<&CaseRecord::graph_edge_target>("graph_edge_target", GraphEdge, scalar_if_graphs),
    array<&CaseRecord::graph_edge_weight>("graph_edge_weight", GraphEdge, scalar_if_graphs),
};

}  // namespace

std::uint64_t rows_of(Rows kind, const CaseRecord& r) {
  switch (kind) {
    case Case:
      return 1;
    case Token:
      return r.tokens.size();
    case IdByte:
      return r.case_id.size();
    case GraphNode:
      return r.graph_node_layer.size();
    case GraphEdge:
      return r.graph_edge_source.size();
  }
  return 0;
}

const char* committed_attr(Rows kind) {
  static constexpr const char* kNames[kRowKinds] = {"committed_rows", "committed_tokens",
                                                    "committed_id_bytes", "committed_graph_nodes",
                                                    "committed_graph_edges"};
  return kNames[kind_index(kind)];
}

const std::vector<CaseColumn>& case_columns() {
  static const std::vector<CaseColumn> columns = make_case_columns();
  return columns;
}

const std::vector<std::size_t>& case_column_offsets() {
  return layout().offsets;
}

std::size_t case_row_size() {
  return layout().size;
}

hid_t case_row_type() {
  static const hid_t type = [] {
    const hid_t t = H5Tcreate(H5T_COMPOUND, case_row_size());
    const auto& columns = case_columns();
    for (std::size_t i = 0; i < columns.size(); ++i)
      H5Tinsert(t, columns[i].name, layout().offsets[i], columns[i].type);
    return t;
  }();
  return type;
}

void CaseRows::append(const CaseRecord& r, const RowCounts& first) {
  const std::size_t at = bytes_.size();
  bytes_.resize(at + case_row_size(), 0);
  char* row = bytes_.data() + at;
  const auto& columns = case_columns();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const CaseColumn& c = columns[i];
    char* column = row + layout().offsets[i];
    switch (c.role) {
      case CaseColumn::Role::Field:
        c.record_to_row(r, column);
        break;
      case CaseColumn::Role::Offset: {
        const std::uint64_t v = first[kind_index(c.rows)];
        std::memcpy(column, &v, sizeof v);
        break;
      }
      case CaseColumn::Role::Length: {
        const auto v = static_cast<std::uint32_t>(rows_of(c.rows, r));
        std::memcpy(column, &v, sizeof v);
        break;
      }
      case CaseColumn::Role::Zero:
        break;
    }
  }
}

std::uint64_t CaseRows::offset(std::size_t i, Rows kind) const {
  if (kind == Case) return i;
  std::uint64_t v;
  std::memcpy(&v, row(i) + layout().offsets[layout().offset_column[kind_index(kind)]], sizeof v);
  return v;
}

std::uint64_t CaseRows::length(std::size_t i, Rows kind) const {
  if (kind == Case) return 1;
  std::uint32_t v;
  std::memcpy(&v, row(i) + layout().offsets[layout().length_column[kind_index(kind)]], sizeof v);
  return v;
}

void CaseRows::to_record(std::size_t i, CaseRecord& r) const {
  const auto& columns = case_columns();
  for (std::size_t c = 0; c < columns.size(); ++c)
    if (columns[c].role == CaseColumn::Role::Field)
      columns[c].row_to_record(row(i) + layout().offsets[c], r);
}

void require_store(hid_t file, const std::string& path) {
  if (!h5::has_attr(file, "schema"))
    throw Error(Where{path, "schema"}, "not a clrp store (HDF5, but no attribute `schema`)");
  const std::string schema = h5::get_string_attr(file, "schema");
  if (schema != kSchema)
    throw Error(Where{path, "schema"},
                "the store has schema '" + schema.substr(0, 64) + "', this clrp reads '" + kSchema +
                    "' (stores before clrp-store/3 carry no checksums): open it with the clrp "
                    "that wrote it, or run the campaign again into a new store");
}

CaseRows CaseRows::read(hid_t cases, std::uint64_t row0, std::uint64_t count) {
  CaseRows rows(count);
  h5::read_rows(cases, case_row_type(), {}, row0, count, rows.data());
  return rows;
}

std::vector<std::string> read_case_ids(hid_t cases, hid_t case_id, std::uint64_t rows,
                                       std::uint64_t id_bytes) {
  const CaseRows index = CaseRows::read(cases, 0, rows);
  std::vector<char> bytes(id_bytes);
  h5::read_rows(case_id, H5T_NATIVE_UINT8, {}, 0, id_bytes, bytes.data());
  std::vector<std::string> out;
  out.reserve(rows);
  for (std::size_t i = 0; i < index.size(); ++i)
    out.emplace_back(bytes.data() + index.offset(i, IdByte), index.length(i, IdByte));
  return out;
}

std::size_t Dataset::row_bytes() const {
  std::size_t n = element_size;
  for (auto t : trailing)
    n *= t;
  return n;
}

std::vector<Dataset> datasets(const TableInfo& t) {
  std::vector<Dataset> out;
  for (const Array& a : kArrays)
    if (auto trailing = a.shape(t)) out.push_back(a.make(a.name, a.rows, std::move(*trailing)));
  return out;
}

}  // namespace schema
}  // namespace clrp::store

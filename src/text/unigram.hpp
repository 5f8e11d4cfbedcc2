// The Unigram model of Hugging Face `tokenizers` (models/unigram/model.rs,
// encode_optimized): a Viterbi search for the segmentation of a word whose
// piece scores sum highest. Internal to src/text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer_spec.hpp"

namespace clrp::text::detail {

/// Pieces held in a byte trie built from the sorted piece list: building it
/// for Gemma's 262,144 pieces takes a few tens of milliseconds.
class PieceTrie {
 public:
  /// Each (piece, id) is matched as that id; pieces must be distinct, empty
  /// ones are left out.
  void build(std::vector<std::pair<std::string_view, std::int32_t>> entries);
  /// Calls `hit(length, id)` for every piece that is a prefix of `s`, shortest first.
  template <typename F>
  void common_prefixes(std::string_view s, F&& hit) const;

 private:
  struct Node {
    std::uint32_t first_edge = 0;
    std::uint32_t n_edges = 0;
    std::int32_t id = -1;  ///< the piece ending here, or -1
  };
  std::vector<Node> nodes_;
  std::vector<unsigned char> labels_;  ///< per node sorted, contiguous
  std::vector<std::uint32_t> children_;
  std::uint32_t root_child_[256] = {};  ///< 0: none (the root is node 0)

  std::uint32_t child(std::uint32_t node, unsigned char label) const;
};

class UnigramModel {
 public:
  /// The model of `spec` (kind Unigram): its pieces in id order with their
  /// scores, `spec.vocab` mapping a piece to its id (the last of duplicates).
  /// `spec` must outlive the model.
  explicit UnigramModel(const BpeSpec& spec);

  /// Appends the ids of one pre-tokenized word. Returns false when the word
  /// needs the unknown token and the model has none (tokenizers fails then).
  bool encode(std::string_view word, std::vector<std::int32_t>& out) const;

 private:
  const BpeSpec* spec_;
  std::vector<double> scores_;
  std::optional<std::int32_t> unk_id_;
  std::int32_t byte_ids_[256];  ///< <0xNN> ids, -1 where missing (byte_fallback only)
  double unk_score_ = 0.0;
  PieceTrie trie_;
};

template <typename F>
void PieceTrie::common_prefixes(std::string_view s, F&& hit) const {
  if (s.empty() || nodes_.empty()) return;
  std::uint32_t node = root_child_[static_cast<unsigned char>(s[0])];
  for (std::size_t k = 0; node != 0;) {
    if (nodes_[node].id >= 0) hit(k + 1, nodes_[node].id);
    if (++k == s.size()) break;
    node = child(node, static_cast<unsigned char>(s[k]));
  }
}

}  // namespace clrp::text::detail

#include "unigram.hpp"

#include <algorithm>
#include <deque>
#include <limits>

namespace clrp::text::detail {

namespace {

/// tokenizers' K_UNK_PENALTY: an unknown character scores this much below the
/// lowest piece.
constexpr double kUnkPenalty = 10.0;

}  // namespace

void PieceTrie::build(std::vector<std::pair<std::string_view, std::int32_t>> entries) {
  std::erase_if(entries, [](const auto& e) { return e.first.empty(); });
  std::sort(entries.begin(), entries.end());
  nodes_.assign(1, Node{});
  labels_.clear();
  children_.clear();
  std::fill(std::begin(root_child_), std::end(root_child_), 0U);
  // Breadth first over ranges of sorted pieces sharing a prefix of `depth`
  // bytes, so that every node's edges are appended in one go (contiguous).
  struct Task {
    std::uint32_t node;
    std::size_t lo, hi, depth;
  };
  std::deque<Task> queue{{0, 0, entries.size(), 0}};
  while (!queue.empty()) {
    Task t = queue.front();
    queue.pop_front();
    if (t.lo < t.hi && entries[t.lo].first.size() == t.depth) {
      nodes_[t.node].id = entries[t.lo].second;  // the prefix itself sorts first
      ++t.lo;
    }
    nodes_[t.node].first_edge = static_cast<std::uint32_t>(labels_.size());
    for (std::size_t i = t.lo; i < t.hi;) {
      const auto c = static_cast<unsigned char>(entries[i].first[t.depth]);
      std::size_t j = i;
      while (j < t.hi && static_cast<unsigned char>(entries[j].first[t.depth]) == c)
        ++j;
      const auto child = static_cast<std::uint32_t>(nodes_.size());
      nodes_.push_back(Node{});
      labels_.push_back(c);
      children_.push_back(child);
      if (t.node == 0) root_child_[c] = child;
      queue.push_back({child, i, j, t.depth + 1});
      i = j;
    }
    nodes_[t.node].n_edges = static_cast<std::uint32_t>(labels_.size()) - nodes_[t.node].first_edge;
  }
}

std::uint32_t PieceTrie::child(std::uint32_t node, unsigned char label) const {
  const Node& n = nodes_[node];
  const auto begin = labels_.begin() + n.first_edge;
  const auto end = begin + n.n_edges;
  const auto it = std::lower_bound(begin, end, label);
  if (it == end || *it != label) return 0;
  return children_[n.first_edge + static_cast<std::size_t>(it - begin)];
}

UnigramModel::UnigramModel(const BpeSpec& spec) : spec_(&spec), unk_id_(spec.unigram_unk_id) {
  scores_.reserve(spec.pieces.size());
  double min_score = std::numeric_limits<double>::infinity();
  std::vector<std::pair<std::string_view, std::int32_t>> entries;
  entries.reserve(spec.vocab.size());
  for (const auto& [piece, score] : spec.pieces) {
    scores_.push_back(score);
    min_score = std::min(min_score, score);
  }
  // The trie answers with the id the vocabulary maps a piece to, as tokenizers
  // looks each trie hit up in token_to_ids (the last of duplicate pieces).
  for (const auto& [piece, id] : spec.vocab)
    entries.emplace_back(piece, id);
  trie_.build(std::move(entries));
  unk_score_ = min_score - kUnkPenalty;
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = -1;
    if (!spec.byte_fallback) continue;
    if (auto it = spec.vocab.find(byte_token(static_cast<unsigned char>(b)));
        it != spec.vocab.end())
      byte_ids_[b] = it->second;
  }
}

bool UnigramModel::encode(std::string_view s, std::vector<std::int32_t>& out) const {
  if (s.empty()) return true;
  struct Best {
    double score = 0.0;
    std::int64_t start = -1;  ///< -1: not reached yet
    std::int32_t id = 0;
  };
  std::vector<Best> best(s.size() + 1);
  for (std::size_t at = 0; at < s.size();) {
    const double here = best[at].score;
    const std::size_t mblen =
        std::min(utf8_length(static_cast<unsigned char>(s[at])), s.size() - at);
    bool single = false;
    trie_.common_prefixes(s.substr(at), [&](std::size_t len, std::int32_t id) {
      Best& target = best[at + len];
      const double candidate = scores_[static_cast<std::size_t>(id)] + here;
      if (target.start < 0 || candidate > target.score)
        target = {candidate, static_cast<std::int64_t>(at), id};
      single = single || len == mblen;
    });
    if (!single) {
      Best& target = best[at + mblen];
      const double candidate = unk_score_ + here;
      if (target.start < 0 || candidate > target.score) {
        if (!unk_id_) return false;
        target = {candidate, static_cast<std::int64_t>(at), *unk_id_};
      }
    }
    at += mblen;
  }
  // Back from the end; runs of unknown pieces fuse into one (fuse_unk is
  // always on for Unigram).
  struct Span {
    std::size_t begin, end;
    std::int32_t id;
    bool unknown;
  };
  std::vector<Span> spans;
  std::size_t end = s.size();
  std::size_t unk_end = 0;  // 0: no unknown run open
  while (end > 0) {
    const Best& node = best[end];
    const auto start = static_cast<std::size_t>(node.start);
    if (unk_id_ && node.id == *unk_id_) {
      if (unk_end == 0) unk_end = end;
    } else {
      if (unk_end != 0) spans.push_back({end, unk_end, *unk_id_, true});
      unk_end = 0;
      spans.push_back({start, end, node.id, false});
    }
    end = start;
  }
  if (unk_end != 0) spans.push_back({0, unk_end, *unk_id_, true});
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    if (!it->unknown) {
      out.push_back(it->id);
      continue;
    }
    // Model::tokenize looks the fused text up; failing that, bytes, then unk.
    const std::string_view text = s.substr(it->begin, it->end - it->begin);
    if (auto v = spec_->vocab.find(text); v != spec_->vocab.end()) {
      out.push_back(v->second);
      continue;
    }
    if (spec_->byte_fallback && std::all_of(text.begin(), text.end(), [&](char c) {
          return byte_ids_[static_cast<unsigned char>(c)] >= 0;
        })) {
      for (char c : text)
        out.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      continue;
    }
    out.push_back(it->id);
  }
  return true;
}

}  // namespace clrp::text::detail

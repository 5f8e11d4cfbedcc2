// A stage's part of an attribution graph as a Boost.Serialization message,
// for gathering the parts of a graph built across pipeline stages.
#pragma once

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <string>
#include <vector>

#include "clrp/dist/tensor_blob.hpp"
#include "clrp/graph/stage.hpp"

namespace boost::serialization {

template <class Archive>
void serialize(Archive& ar, clrp::graph::Edge& e, unsigned /*version*/) {
  ar& e.source& e.target& e.weight;
}
template <class Archive>
void serialize(Archive& ar, clrp::graph::Node& n, unsigned /*version*/) {
  ar& n.layer& n.position& n.relevance;
}
template <class Archive>
void serialize(Archive& ar, clrp::graph::Transition& t, unsigned /*version*/) {
  ar& t.source& t.target& t.edges& t.total_mass& t.pruned_mass& t.kept_mass& t.computed_targets& t
      .pruned_edges& t.threshold;
}
template <class Archive>
void serialize(Archive& ar, clrp::graph::DecisionProfile& d, unsigned /*version*/) {
  ar& d.contrast& d.wrong& d.correct;
}
template <class Archive>
void serialize(Archive& ar, clrp::graph::GraphPlan& p, unsigned /*version*/) {
  ar& p.keep_tapes& p.dense_transitions& p.query_block& p.estimate_bytes;
}

}  // namespace boost::serialization

namespace clrp::campaign {

/// A GraphPart with its tensors as blobs, or the error that stopped the stage.
struct GraphPartMessage {
  std::string error;  ///< non-empty: the graph failed on this stage (the part is empty)
  std::int64_t first_node = 0, tokens = 0, position = 0;
  int rule = 0;
  dist::TensorBlob relevance, remainder, logits;
  std::vector<graph::Transition> transitions;
  std::vector<graph::Node> nodes;
  graph::DecisionProfile decision;
  bool has_target = false;
  double target = 0, wrong_logit = 0, correct_logit = 0;
  graph::GraphPlan plan;
  double seconds = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& error& first_node& tokens& position& rule& relevance& remainder& logits& transitions& nodes&
        decision& has_target& target& wrong_logit& correct_logit& plan& seconds;
  }
};

GraphPartMessage to_message(const graph::GraphPart& part);
graph::GraphPart from_message(const GraphPartMessage& m);

}  // namespace clrp::campaign

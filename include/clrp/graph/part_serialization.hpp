// A stage's part of an attribution graph for Boost.Serialization, for
// gathering the parts of a graph built across pipeline stages to stage 0.
#pragma once

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

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

template <class Archive>
void serialize(Archive& ar, clrp::graph::GraphPart& p, unsigned /*version*/) {
  ar& p.first_node& p.tokens& p.position& p.rule& p.relevance& p.remainder& p.transitions& p
      .nodes& p.decision& p.has_target& p.target& p.wrong_logit& p.correct_logit& p.logits& p
      .plan& p.seconds;
}

}  // namespace boost::serialization

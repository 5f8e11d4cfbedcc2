#include "clrp/campaign/graph_message.hpp"

namespace clrp::campaign {

GraphPartMessage to_message(const graph::GraphPart& p) {
  GraphPartMessage m;
  m.first_node = p.first_node;
  m.tokens = p.tokens;
  m.position = p.position;
  m.rule = static_cast<int>(p.rule);
  m.relevance = dist::to_blob(p.relevance);
  m.remainder = dist::to_blob(p.remainder);
  m.logits = dist::to_blob(p.logits);
  m.transitions = p.transitions;
  m.nodes = p.nodes;
  m.decision = p.decision;
  m.has_target = p.has_target;
  m.target = p.target;
  m.wrong_logit = p.wrong_logit;
  m.correct_logit = p.correct_logit;
  m.plan = p.plan;
  m.seconds = p.seconds;
  return m;
}

graph::GraphPart from_message(const GraphPartMessage& m) {
  graph::GraphPart p;
  p.first_node = m.first_node;
  p.tokens = m.tokens;
  p.position = m.position;
  p.rule = static_cast<lrp::Rule>(m.rule);
  p.relevance = dist::from_blob(m.relevance);
  p.remainder = dist::from_blob(m.remainder);
  p.logits = dist::from_blob(m.logits);
  p.transitions = m.transitions;
  p.nodes = m.nodes;
  p.decision = m.decision;
  p.has_target = m.has_target;
  p.target = m.target;
  p.wrong_logit = m.wrong_logit;
  p.correct_logit = m.correct_logit;
  p.plan = m.plan;
  p.seconds = m.seconds;
  return p;
}

}  // namespace clrp::campaign

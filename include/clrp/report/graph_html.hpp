// A standalone HTML view of one attribution graph: node layers bottom to top,
// token positions left to right, edges coloured by sign (red pushes toward the
// wrong token, blue toward the correct one) and drawn by weight; hovering a
// node shows its token, layer, relevance and influence and highlights its
// edges. No external assets: it opens offline from a results folder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace clrp::report {

/// The most edges a page embeds (the strongest by |weight|); the page says how
/// many the graph has. A long-context graph can hold millions.
inline constexpr std::size_t kGraphPageMaxLinks = 20000;

/// Renders the page from a graph in clrp's circuit-tracer JSON (graph::graph_json).
std::string render_graph_html(const nlohmann::json& graph);

}  // namespace clrp::report

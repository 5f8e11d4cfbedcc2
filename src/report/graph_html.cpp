#include "clrp/report/graph_html.hpp"

#include <algorithm>
#include <cmath>

namespace clrp::report {

namespace {

// JSON inside <script>: '<' escaped so no "</script>" can close the element early.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clrp attribution graph</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 6px} .meta{color:#555;margin:2px 0}
#wrap{position:relative;border:1px solid #ccc;overflow:auto;max-height:78vh}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;padding:6px 8px;
 font:12px monospace;display:none;white-space:pre;box-shadow:2px 2px 6px #0003}
.row{display:flex;gap:24px;align-items:center;margin:8px 0;flex-wrap:wrap}
#decide{border:1px solid #ccc}
</style></head><body>
<h1 id="title"></h1>
<div class="meta" id="meta1"></div><div class="meta" id="meta2"></div><div class="meta" id="meta3"></div>
<div class="row"><label>edges shown <input id="limit" type="range" min="1" max="1" value="1"> <span id="limitv"></span></label>
<span class="meta">red: toward the wrong token · blue: toward the correct token · hover a node</span></div>
<div id="wrap"><canvas id="c"></canvas></div>
<div class="row"><div><b>Which layer decided</b> — relevance added at the explained position, per node layer
(contrast <span style="color:#333">■</span>, wrong token alone <span style="color:#c0392b">■</span>, correct token alone <span style="color:#2e6fd8">■</span>)<br>
<canvas id="decide" width="900" height="160"></canvas></div></div>
<div id="tip"></div>
<script id="graph" type="application/json">@GRAPH@</script>
<script>
"use strict";
const G = JSON.parse(document.getElementById("graph").textContent);
const C = G.clrp, md = G.metadata, toks = md.prompt_tokens;
const T = toks.length, layers = C.node_layers, nl = layers.length;
document.getElementById("title").textContent =
  "Why " + JSON.stringify(C.wrong.token) + " and not " + JSON.stringify(C.correct.token) + "?" +
  (C.shared_prefix ? " (after " + JSON.stringify(C.shared_prefix.text) + ", which both answers start with)" : "");
const s = C.summary;
document.getElementById("meta1").textContent = "model " + md.scan + " · rule " + C.rule +
  " · Δℓ = " + C.target.toFixed(4) + " at position " + C.position + " of " + T + " tokens";
document.getElementById("meta2").textContent = s.nodes + " nodes, " + s.edges + " edges (" +
  G.links.length + " embedded) · mean fan-in " + s.mean_fan_in.toFixed(1) + " · " + C.plan +
  " · " + C.seconds.toFixed(1) + " s";
document.getElementById("meta3").textContent = "final relevance: first token " +
  (100 * s.first_token_share).toFixed(1) + "%, other tokens " + (100 * s.other_tokens_share).toFixed(1) +
  "%, self bias " + (100 * s.self_bias_share).toFixed(1) + "%";
// Node placement: row by circuit-tracer layer ("E" = 0), column by position.
const rowOf = n => n.layer === "E" ? 0 : parseInt(n.layer, 10);
const maxRow = Math.max(...G.nodes.map(rowOf));
const cell = Math.max(4, Math.min(28, Math.floor(1400 / T))), rowH = Math.max(14, Math.min(40, Math.floor(900 / (maxRow + 1))));
const left = 70, bottom = 90, W = left + T * cell + 20, H = (maxRow + 1) * rowH + bottom + 10;
const cv = document.getElementById("c"); cv.width = W; cv.height = H;
const ctx = cv.getContext("2d");
const byId = new Map();
for (const n of G.nodes) { n.x = left + (n.ctx_idx + 0.5) * cell; n.y = H - bottom - (rowOf(n) + 0.5) * rowH; byId.set(n.node_id, n); }
const links = G.links.filter(l => byId.has(l.source) && byId.has(l.target))
  .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
const maxW = links.length ? Math.abs(links[0].weight) : 1;
const maxR = Math.max(1e-12, ...G.nodes.filter(n => n.feature_type !== "logit").map(n => Math.abs(n.relevance)));
const lim = document.getElementById("limit");
lim.max = Math.max(1, links.length); lim.value = Math.min(links.length, 2000);
let hover = null;
function color(v, a) { return v >= 0 ? `rgba(192,57,43,${a})` : `rgba(46,111,216,${a})`; }
function draw() {
  const shown = +lim.value; document.getElementById("limitv").textContent = shown + " / " + links.length;
  ctx.clearRect(0, 0, W, H); ctx.font = "11px sans-serif"; ctx.fillStyle = "#444";
  for (let r = 0; r <= maxRow; r++) {
    const y = H - bottom - (r + 0.5) * rowH;
    const name = r === 0 ? "emb" : r === maxRow ? "Δℓ" : (layers.find(l => l.row === r) || {}).name || "";
    ctx.fillText(name, 4, y + 4);
    ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(W - 10, y); ctx.stroke();
  }
  for (let i = 0; i < links.length && i < shown; i++) {
    const l = links[i], a = byId.get(l.source), b = byId.get(l.target);
    const on = hover && (hover === a || hover === b);
    if (hover && !on) continue;
    const f = Math.abs(l.weight) / maxW;
    ctx.strokeStyle = color(l.weight, on ? 0.9 : 0.2 + 0.6 * f); ctx.lineWidth = 0.8 + 3 * f;
    ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
  }
  for (const n of G.nodes) {
    const f = n.feature_type === "logit" ? 1 : Math.abs(n.relevance) / maxR;
    ctx.fillStyle = color(n.relevance, 0.25 + 0.75 * f);
    ctx.beginPath(); ctx.arc(n.x, n.y, Math.max(1.5, Math.min(cell, rowH) * (0.15 + 0.3 * Math.sqrt(f))), 0, 7); ctx.fill();
    if (n === hover) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke(); }
  }
  ctx.save(); ctx.fillStyle = "#333";
  const every = Math.max(1, Math.ceil(11 / cell));
  for (let i = 0; i < T; i += every) {
    ctx.save(); ctx.translate(left + (i + 0.5) * cell, H - bottom + 6); ctx.rotate(Math.PI / 3);
    ctx.fillText(toks[i].slice(0, 14), 0, 0); ctx.restore();
  }
  ctx.restore();
}
cv.addEventListener("mousemove", e => {
  const r = cv.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
  let best = null, bd = 1e9;
  for (const n of G.nodes) { const d = (n.x - x) ** 2 + (n.y - y) ** 2; if (d < bd) { bd = d; best = n; } }
  const tip = document.getElementById("tip");
  if (best && bd < 200) {
    hover = best; tip.style.display = "block"; tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 10) + "px";
    const li = byId.get(best.node_id);
    tip.textContent = "token " + best.ctx_idx + ": " + JSON.stringify(toks[best.ctx_idx]) + "\n" +
      (best.feature_type === "logit" ? "target Δℓ" : best.layer === "E" ? "embedding" : best.clerp) +
      "\nrelevance " + (+best.relevance).toPrecision(4) +
      (li.influence !== null ? "\ninfluence (cumulative) " + (+li.influence).toFixed(3) : "");
  } else { hover = null; tip.style.display = "none"; }
  draw();
});
lim.addEventListener("input", draw);
draw();
// The decision profile: per node layer, relevance added at the explained position.
(function () {
  const d = document.getElementById("decide"), x = d.getContext("2d");
  const series = [[s.contrast_increment, "#333"], [s.wrong_increment, "#c0392b"], [s.correct_increment, "#2e6fd8"]];
  const m = Math.max(1e-12, ...series.flatMap(([v]) => v.map(Math.abs)));
  const bw = (d.width - 40) / nl, mid = d.height / 2;
  x.strokeStyle = "#aaa"; x.beginPath(); x.moveTo(30, mid); x.lineTo(d.width, mid); x.stroke();
  series.forEach(([v, col], k) => { x.fillStyle = col;
    v.forEach((val, i) => { const h = (val / m) * (mid - 8); x.fillRect(32 + i * bw + k * bw / 3, mid - Math.max(h, 0), bw / 3 - 1, Math.abs(h)); }); });
  x.fillStyle = "#444"; x.font = "10px sans-serif";
  for (let i = 0; i < nl; i += Math.max(1, Math.ceil(nl / 20))) x.fillText(layers[i].name, 32 + i * bw, d.height - 2);
})();
</script></body></html>
)HTML";

}  // namespace

std::string render_graph_html(const nlohmann::json& graph) {
  nlohmann::json g = graph;
  auto& links = g["links"];
  if (links.size() > kGraphPageMaxLinks) {
    std::vector<nlohmann::json> all(links.begin(), links.end());
    std::partial_sort(all.begin(), all.begin() + kGraphPageMaxLinks, all.end(),
                      [](const nlohmann::json& a, const nlohmann::json& b) {
                        return std::fabs(a["weight"].get<double>()) >
                               std::fabs(b["weight"].get<double>());
                      });
    all.resize(kGraphPageMaxLinks);
    links = all;
  }
  // The per-layer relevance arrays are for analysis, not the page.
  g["clrp"].erase("relevance");
  g["clrp"].erase("remainder");
  std::string page = kPage;
  const std::string data = script_safe(g.dump());
  page.replace(page.find("@GRAPH@"), 7, data);
  return page;
}

}  // namespace clrp::report

#include "clrp/report/explain_html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace clrp::report {

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string fmt(double v, const char* spec = "%.4g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

// Background for a relevance scaled to [-1, 1]: red (toward wrong) or blue (toward correct).
std::string colour(double scaled) {
  const double a = std::min(1.0, std::abs(scaled));
  const int fade = static_cast<int>(std::lround(255 * (1 - a)));
  char buf[32];
  if (scaled >= 0)
    std::snprintf(buf, sizeof buf, "rgb(255,%d,%d)", fade, fade);
  else
    std::snprintf(buf, sizeof buf, "rgb(%d,%d,255)", fade, fade);
  return buf;
}

// A token's text made visible: newlines and tabs shown as symbols (and the
// newline kept as a line break so the prompt keeps its shape).
std::string visible(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += "\xe2\x86\xb5";  // ↵
    else if (c == '\t')
      out += "\xe2\x87\xa5";  // ⇥
    else
      out += c;
  }
  return out;
}

constexpr const char* kStyle = R"(
body{font:14px/1.5 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 8px} .meta{color:#555;margin-bottom:16px}
table.contrast{border-collapse:collapse;margin:8px 0 16px} table.contrast td,table.contrast th{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}
.wrong{color:#b00020;font-weight:600} .correct{color:#0039b0;font-weight:600}
.prompt{font:13px/1.9 ui-monospace,monospace;white-space:pre-wrap;word-break:break-word;border:1px solid #ccc;padding:10px;border-radius:4px}
.prompt span{border-radius:2px} .prompt span.special{outline:1px dashed #999;color:#777}
.legend{display:flex;align-items:center;gap:8px;margin:8px 0;color:#555;font-size:12px}
.bar{width:200px;height:10px;background:linear-gradient(90deg,rgb(0,0,255),#fff,rgb(255,0,0))}
#map{border:1px solid #ccc;image-rendering:pixelated;width:100%;height:auto}
#tip{position:fixed;pointer-events:none;background:#333;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;display:none}
table.segments td{padding:2px 10px}
)";

}  // namespace

std::string render_explain_html(const ExplainPage& page) {
  double scale = 0;
  for (const auto& t : page.tokens)
    if (!t.special) scale = std::max(scale, std::abs(t.relevance));
  if (scale == 0) scale = 1;

  std::ostringstream h;
  h << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << html_escape(page.title) << "</title><style>" << kStyle << "</style></head><body>\n";
  h << "<h1>" << html_escape(page.title) << "</h1>\n<div class=\"meta\">model "
    << html_escape(page.model) << " · rule " << html_escape(page.rule) << " · "
    << page.tokens.size() << " tokens · Δℓ = logit(wrong) − logit(correct) = <b>"
    << fmt(page.target) << "</b> · input-level sum differs from Δℓ by "
    << fmt(100 * page.conservation, "%.2f") << "%</div>\n";
  if (!page.note.empty()) h << "<div class=\"meta\">" << html_escape(page.note) << "</div>\n";
  h << "<table "
       "class=\"contrast\"><tr><th></th><th>token</th><th>logit</th><th>probability</th></tr>"
    << "<tr><td class=\"wrong\">wrong</td><td><code>"
    << html_escape(nlohmann::json(page.wrong.text).dump()) << "</code></td><td>"
    << fmt(page.wrong.logit) << "</td><td>" << fmt(100 * page.wrong.probability, "%.2f")
    << "%</td></tr><tr><td class=\"correct\">correct</td><td><code>"
    << html_escape(nlohmann::json(page.correct.text).dump()) << "</code></td><td>"
    << fmt(page.correct.logit) << "</td><td>" << fmt(100 * page.correct.probability, "%.2f")
    << "%</td></tr></table>\n";
  h << "<div class=\"legend\">toward correct<div class=\"bar\"></div>toward wrong · scale ±"
    << fmt(scale)
    << " (special tokens and the first position, dashed, excluded) · hover a token for its "
       "value</div>\n<div "
       "class=\"prompt\">";
  for (std::size_t i = 0; i < page.tokens.size(); ++i) {
    const auto& t = page.tokens[i];
    const double scaled = t.special ? 0 : t.relevance / scale;
    h << "<span" << (t.special ? " class=\"special\"" : "")
      << " style=\"background:" << colour(scaled) << "\" title=\"#" << i << " "
      << html_escape(nlohmann::json(t.text).dump()) << ": " << fmt(t.relevance) << "\">"
      << html_escape(visible(t.text)) << (t.text.find('\n') != std::string::npos ? "\n" : "")
      << "</span>";
  }
  h << "</div>\n";
  if (!page.segments.empty()) {
    h << "<h2>Relevance per prompt segment</h2><table class=\"segments\">";
    for (const auto& [name, r] : page.segments)
      h << "<tr><td>" << html_escape(name) << "</td><td>" << fmt(r) << "</td></tr>";
    h << "</table>\n";
  }
  if (!page.layer_relevance.empty()) {
    // The map is drawn client-side from the numbers: one pixel row per layer
    // (layer 0 at the bottom), one column per position, same colour scale per row.
    h << "<h2>Residual-stream relevance, layer × position</h2>"
      << "<div class=\"legend\">each row normalised by its largest |relevance|; layer 0 at the "
         "bottom</div>"
      << "<canvas id=\"map\"></canvas><div id=\"tip\"></div>\n<script>\nconst R="
      << nlohmann::json(page.layer_relevance).dump() << ";\nconst T="
      << nlohmann::json([&] {
           std::vector<std::string> t;
           for (const auto& tok : page.tokens)
             t.push_back(tok.text);
           return t;
         }())
             .dump()
      << R"(;
const c=document.getElementById('map'),L=R.length,N=R[0].length,cell=Math.max(1,Math.min(12,Math.floor(1200/N)));
c.width=N*cell;c.height=L*8;const g=c.getContext('2d');
R.forEach((row,l)=>{const m=Math.max(1e-30,...row.map(Math.abs));row.forEach((v,p)=>{const a=Math.min(1,Math.abs(v)/m),f=Math.round(255*(1-a));
g.fillStyle=v>=0?`rgb(255,${f},${f})`:`rgb(${f},${f},255)`;g.fillRect(p*cell,(L-1-l)*8,cell,8);});});
const tip=document.getElementById('tip');
c.addEventListener('mousemove',e=>{const r=c.getBoundingClientRect(),p=Math.floor((e.clientX-r.left)/r.width*N),l=L-1-Math.floor((e.clientY-r.top)/r.height*L);
if(p<0||p>=N||l<0||l>=L){tip.style.display='none';return;}tip.style.display='block';tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';
tip.textContent=`layer ${l}, position ${p} ${JSON.stringify(T[p])}: ${R[l][p].toPrecision(4)}`;});
c.addEventListener('mouseleave',()=>tip.style.display='none');
</script>
)";
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace clrp::report

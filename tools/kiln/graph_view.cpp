#include "graph_view.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "json_reader.h"

namespace kiln::cli {

namespace {

// Fill colour of a layer box by precision (the first output's type); the legend lists the ones
// used.
const char* precisionColor(const std::string& p) {
  if (p == "float32") return "#cfe2ff";
  if (p == "float16") return "#c7f0c2";
  if (p == "bfloat16") return "#fff0a8";
  if (p == "float64") return "#d9ccf5";
  if (p == "int8" || p == "uint8" || p.rfind("float8", 0) == 0 || p.rfind("float4", 0) == 0 ||
      p == "int4" || p == "uint4")
    return "#ffd2a1";
  if (p == "int32" || p == "int64" || p == "int16" || p == "uint16" || p == "uint32" ||
      p == "uint64")
    return "#e3e3e3";
  if (p == "bool") return "#f7c6e3";
  return "#ffffff";
}
const char* kIoColor = "#f4f4f4";

std::string tensorLabel(const GraphTensor& t) {
  std::string s = t.shape;
  if (!t.dtype.empty()) s += (s.empty() ? "" : " ") + t.dtype;
  return s;
}

// What is drawn: graph inputs, layers and graph outputs, and the edges between them.
struct VNode {
  enum Kind { kInput, kLayer, kOutput } kind;
  size_t index;  // into GraphModel::inputs / layers / outputs
  int rank = 0;
  double x = 0, y = 0, w = 0, h = 0;
};
struct VEdge {
  size_t from, to;
  std::string label;
};
struct View {
  std::vector<VNode> nodes;
  std::vector<VEdge> edges;
  std::vector<std::string> precisions;  // used, in first-use order
};

View buildView(const GraphModel& g) {
  View v;
  std::map<std::string, size_t> producer;  // tensor name -> node
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    producer[g.inputs[i].name] = v.nodes.size();
    v.nodes.push_back({VNode::kInput, i});
  }
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const GraphLayer& l = g.layers[i];
    const size_t id = v.nodes.size();
    v.nodes.push_back({VNode::kLayer, i});
    int rank = 1;
    if (g.namesOnly) {
      rank = static_cast<int>(i) + 1;
    } else {
      std::set<std::pair<size_t, std::string>> seen;
      for (const GraphTensor& t : l.inputs) {
        auto it = producer.find(t.name);
        if (it == producer.end()) continue;  // a constant (weights): not drawn
        rank = std::max(rank, v.nodes[it->second].rank + 1);
        if (seen.insert({it->second, t.name}).second)
          v.edges.push_back({it->second, id, tensorLabel(t)});
      }
      for (const GraphTensor& t : l.outputs) producer[t.name] = id;
    }
    v.nodes[id].rank = rank;
    const std::string p = l.precision.empty() ? "unknown" : l.precision;
    if (std::find(v.precisions.begin(), v.precisions.end(), p) == v.precisions.end())
      v.precisions.push_back(p);
  }
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const size_t id = v.nodes.size();
    v.nodes.push_back({VNode::kOutput, i});
    int rank = g.namesOnly ? static_cast<int>(g.layers.size()) + 1 : 1;
    auto it = producer.find(g.outputs[i].name);
    if (!g.namesOnly && it != producer.end()) {
      rank = v.nodes[it->second].rank + 1;
      v.edges.push_back({it->second, id, tensorLabel(g.outputs[i])});
    }
    v.nodes[id].rank = rank;
  }
  return v;
}

// At most `n` entries of `items`, then "... N more".
std::vector<std::string> capped(const std::vector<std::string>& items, size_t n) {
  std::vector<std::string> out(
      items.begin(), items.begin() + static_cast<std::ptrdiff_t>(std::min(n, items.size())));
  if (items.size() > n) out.push_back("... " + std::to_string(items.size() - n) + " more");
  return out;
}

std::vector<std::string> outputLines(const GraphLayer& l) {
  std::vector<std::string> out;
  for (const GraphTensor& t : l.outputs) out.push_back("out: " + tensorLabel(t));
  return capped(out, 4);
}

// Full description of a layer (tooltips).
std::string layerDetails(const GraphLayer& l) {
  std::string s = l.name + "\n" + l.type;
  if (!l.precision.empty()) s += ", " + l.precision;
  if (!l.tactic.empty()) s += "\ntactic: " + l.tactic;
  for (const GraphTensor& t : l.inputs) s += "\nin: " + t.name + " " + tensorLabel(t);
  for (const GraphTensor& t : l.outputs) s += "\nout: " + t.name + " " + tensorLabel(t);
  if (!l.fused.empty()) {
    s += "\nfused (" + std::to_string(l.fused.size()) + "):";
    for (const std::string& f : l.fused) s += "\n  " + f;
  }
  return s;
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  return buf;
}

}  // namespace

std::string dotQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      // dropped: DOT has no use for it
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string xmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')
          out += ' ';
        else
          out += c;
    }
  }
  return out;
}

StatusOr<GraphModel> graphFromLayerInfo(const std::string& layerInfoJson,
                                        std::vector<GraphTensor> inputs,
                                        std::vector<GraphTensor> outputs, std::string title) {
  KILN_ASSIGN_OR_RETURN(JsonValue doc, parseJson(layerInfoJson));
  const JsonValue* layers = doc.find("layers");
  if (layers == nullptr || !layers->isArray())
    return invalidArgument(
        "the plan holds no layer information to draw (built with --profilingVerbosity=none); "
        "rebuild it with --profilingVerbosity=detailed");
  GraphModel g;
  g.title = std::move(title);
  g.inputs = std::move(inputs);
  g.outputs = std::move(outputs);
  auto tensors = [](const JsonValue* list) {
    std::vector<GraphTensor> out;
    if (list == nullptr || !list->isArray()) return out;
    for (const JsonValue& t : list->items)
      out.push_back({t.getString("name"), t.getString("dtype"), t.getString("shape")});
    return out;
  };
  for (const JsonValue& item : layers->items) {
    GraphLayer l;
    if (item.isString()) {  // layer_names_only
      l.name = item.text;
      g.namesOnly = true;
      g.layers.push_back(std::move(l));
      continue;
    }
    l.name = item.getString("name");
    l.type = item.getString("type");
    l.precision = item.getString("precision");
    l.tactic = item.getString("tactic");
    const std::string fused = item.getString("fusedNodes");
    // "conv1 + bn1 + relu1" (optimizer/passes/pass_util.h kFusedNodesAttr).
    for (size_t start = 0; !fused.empty() && start <= fused.size();) {
      size_t end = fused.find(" + ", start);
      if (end == std::string::npos) end = fused.size();
      l.fused.push_back(fused.substr(start, end - start));
      start = end + 3;
    }
    l.inputs = tensors(item.find("inputs"));
    l.outputs = tensors(item.find("outputs"));
    g.layers.push_back(std::move(l));
  }
  return g;
}

// ---- DOT -----------------------------------------------------------------------------------

std::string graphToDot(const GraphModel& g) {
  const View v = buildView(g);
  std::ostringstream os;
  os << "// " << (g.title.find('\n') == std::string::npos ? g.title : "graph") << "\n";
  os << "// Node ids: in<i> graph inputs, L<i> layers (execution order), out<i> graph outputs,\n"
        "// legend_<i> the precision legend. Render: dot -Tsvg file.dot -o file.svg\n";
  os << "digraph kiln {\n";
  os << "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, labelloc=t, label="
     << dotQuote(g.title) << "];\n";
  os << "  node [fontname=\"Helvetica\", fontsize=10];\n";
  os << "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];\n";
  auto id = [&](const VNode& n) {
    switch (n.kind) {
      case VNode::kInput: return "in" + std::to_string(n.index);
      case VNode::kLayer: return "L" + std::to_string(n.index);
      case VNode::kOutput: break;
    }
    return "out" + std::to_string(n.index);
  };
  for (const VNode& n : v.nodes) {
    if (n.kind != VNode::kLayer) {
      const GraphTensor& t = n.kind == VNode::kInput ? g.inputs[n.index] : g.outputs[n.index];
      os << "  " << id(n) << " [shape=ellipse, style=filled, fillcolor=\"" << kIoColor
         << "\", label="
         << dotQuote((n.kind == VNode::kInput ? "input: " : "output: ") + t.name + "\n" +
                     tensorLabel(t))
         << "];\n";
      continue;
    }
    const GraphLayer& l = g.layers[n.index];
    // An HTML-like label: a table whose rows are the layer's facts; fused layers list the ONNX
    // nodes they replaced in rows of their own.
    std::string label =
        "<TABLE BORDER=\"1\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"2\" "
        "COLOR=\"#555555\" BGCOLOR=\"" +
        std::string(precisionColor(l.precision)) + "\">";
    auto row = [&](const std::string& text, const char* open = "", const char* close = "") {
      label += "<TR><TD>" + std::string(open) + xmlEscape(text) + close + "</TD></TR>";
    };
    row(l.name, "<B>", "</B>");
    if (!g.namesOnly) {
      row(l.type + (l.precision.empty() ? "" : " | " + l.precision));
      if (!l.tactic.empty()) row("tactic: " + l.tactic, "<FONT POINT-SIZE=\"8\">", "</FONT>");
      for (const std::string& s : outputLines(l)) row(s, "<FONT POINT-SIZE=\"8\">", "</FONT>");
      if (!l.fused.empty()) {
        label += "<TR><TD BGCOLOR=\"#ffffff\"><I>fused (" + std::to_string(l.fused.size()) +
                 "):</I></TD></TR>";
        for (const std::string& f : capped(l.fused, 12))
          label += "<TR><TD BGCOLOR=\"#ffffff\"><FONT POINT-SIZE=\"8\">" + xmlEscape(f) +
                   "</FONT></TD></TR>";
      }
    }
    label += "</TABLE>";
    os << "  " << id(n) << " [shape=plaintext, tooltip=" << dotQuote(layerDetails(l)) << ", label=<"
       << label << ">];\n";
  }
  for (const VEdge& e : v.edges)
    os << "  " << id(v.nodes[e.from]) << " -> " << id(v.nodes[e.to])
       << " [label=" << dotQuote(e.label) << "];\n";
  if (!v.precisions.empty()) {
    os << "  subgraph cluster_legend {\n    label=\"precision\"; style=rounded; "
          "color=\"#999999\";\n";
    for (size_t i = 0; i < v.precisions.size(); ++i)
      os << "    legend_" << i << " [shape=box, style=filled, fillcolor=\""
         << precisionColor(v.precisions[i]) << "\", label=" << dotQuote(v.precisions[i]) << "];\n";
    for (size_t i = 1; i < v.precisions.size(); ++i)
      os << "    legend_" << i - 1 << " -> legend_" << i << " [style=invis];\n";
    os << "  }\n";
  }
  os << "}\n";
  return os.str();
}

// ---- HTML / SVG ----------------------------------------------------------------------------

namespace {

constexpr double kBoxW = 250, kLineH = 14, kPad = 7, kGapX = 36, kGapY = 58, kMargin = 24;
constexpr size_t kMaxChars = 36;  // per line at the 11px font in a kBoxW box

std::string truncated(const std::string& s) {
  // Cut at a UTF-8 character boundary.
  if (s.size() <= kMaxChars) return s;
  size_t cut = kMaxChars - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\xE2\x80\xA6";  // U+2026
}

struct Lines {
  std::vector<std::string> text;
  std::vector<bool> bold, small;
  void add(const std::string& s, bool b = false, bool sm = false) {
    text.push_back(truncated(s));
    bold.push_back(b);
    small.push_back(sm);
  }
};

Lines nodeLines(const GraphModel& g, const VNode& n) {
  Lines L;
  if (n.kind != VNode::kLayer) {
    const GraphTensor& t = n.kind == VNode::kInput ? g.inputs[n.index] : g.outputs[n.index];
    L.add((n.kind == VNode::kInput ? "input: " : "output: ") + t.name, true);
    L.add(tensorLabel(t), false, true);
    return L;
  }
  const GraphLayer& l = g.layers[n.index];
  L.add(l.name, true);
  if (g.namesOnly) return L;
  L.add(l.type + (l.precision.empty() ? "" : " \xC2\xB7 " + l.precision));
  if (!l.tactic.empty()) L.add("tactic: " + l.tactic, false, true);
  for (const std::string& s : outputLines(l)) L.add(s, false, true);
  if (!l.fused.empty()) {
    L.add("fused (" + std::to_string(l.fused.size()) + "):", false, true);
    for (const std::string& f : capped(l.fused, 8)) L.add("\xE2\x80\xA2 " + f, false, true);
  }
  return L;
}

}  // namespace

std::string graphToHtml(const GraphModel& g) {
  View v = buildView(g);
  std::vector<Lines> lines;
  for (const VNode& n : v.nodes) lines.push_back(nodeLines(g, n));
  // Layered layout: row = rank; within a row, the order of appearance (inputs, layers in
  // execution order, outputs). Rows are centred on the widest.
  int maxRank = 0;
  for (const VNode& n : v.nodes) maxRank = std::max(maxRank, n.rank);
  std::vector<std::vector<size_t>> rows(static_cast<size_t>(maxRank) + 1);
  for (size_t i = 0; i < v.nodes.size(); ++i) {
    VNode& n = v.nodes[i];
    n.w = kBoxW;
    n.h = 2 * kPad + kLineH * static_cast<double>(lines[i].text.size());
    rows[static_cast<size_t>(n.rank)].push_back(i);
  }
  double widest = 0;
  for (const auto& r : rows)
    if (!r.empty())
      widest = std::max(widest, static_cast<double>(r.size()) * (kBoxW + kGapX) - kGapX);
  const double legendH = 34;
  double y = kMargin + legendH;
  for (const auto& r : rows) {
    if (r.empty()) continue;
    double rowH = 0;
    double x = kMargin + (widest - (static_cast<double>(r.size()) * (kBoxW + kGapX) - kGapX)) / 2;
    for (size_t i : r) {
      v.nodes[i].x = x;
      v.nodes[i].y = y;
      x += kBoxW + kGapX;
      rowH = std::max(rowH, v.nodes[i].h);
    }
    y += rowH + kGapY;
  }
  double width = std::max(widest, 400.0) + 2 * kMargin;
  const double height = y - kGapY + kMargin;

  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>"
     << xmlEscape(g.title) << "</title>\n<style>\n"
     << "body { font-family: Helvetica, Arial, sans-serif; margin: 16px; color: #222; }\n"
        "h1 { font-size: 16px; }\n"
        "svg text { font-size: 11px; }\n"
        "svg text.b { font-weight: bold; }\n"
        "svg text.s { font-size: 10px; fill: #333; }\n"
        "svg text.elabel { font-size: 9px; fill: #444; paint-order: stroke; stroke: #fff; "
        "stroke-width: 3px; }\n"
        "svg .edge { fill: none; stroke: #777; stroke-width: 1.2; }\n"
        "svg g.layer rect, svg g.io rect { stroke: #555; }\n"
        "svg g.layer:hover rect { stroke: #000; stroke-width: 2; }\n"
        "</style>\n</head>\n<body>\n<h1>"
     << xmlEscape(g.title) << "</h1>\n<p>" << g.layers.size() << " layers, " << v.edges.size()
     << " edges. Boxes are coloured by precision; hover a box for its full description"
     << (g.namesOnly ? " (the plan keeps layer names only: no edges)" : "") << ".</p>\n";
  std::ostringstream eo;
  // Edges: from the bottom of the producer to the top of the consumer, the ports spread along
  // the box edges, a cubic curve, the tensor's shape and dtype at the middle.
  std::vector<size_t> outCount(v.nodes.size(), 0), inCount(v.nodes.size(), 0);
  for (const VEdge& e : v.edges) {
    ++outCount[e.from];
    ++inCount[e.to];
  }
  std::vector<size_t> outSeen(v.nodes.size(), 0), inSeen(v.nodes.size(), 0);
  // Right end of each row, for edges that skip rows: they run down the right of the rows they
  // pass, each in a lane of its own, instead of through their boxes.
  std::vector<double> rowRight(rows.size(), 0);
  for (const VNode& n : v.nodes)
    rowRight[static_cast<size_t>(n.rank)] =
        std::max(rowRight[static_cast<size_t>(n.rank)], n.x + n.w);
  double laneX = 0, rightmost = 0;
  eo << "<g class=\"edges\">\n";
  for (const VEdge& e : v.edges) {
    const VNode& a = v.nodes[e.from];
    const VNode& b = v.nodes[e.to];
    const double x1 = a.x + a.w * static_cast<double>(++outSeen[e.from]) /
                                static_cast<double>(outCount[e.from] + 1);
    const double y1 = a.y + a.h;
    const double x2 =
        b.x + b.w * static_cast<double>(++inSeen[e.to]) / static_cast<double>(inCount[e.to] + 1);
    const double y2 = b.y;
    double passRight = 0;
    for (int r = a.rank + 1; r < b.rank; ++r)
      passRight = std::max(passRight, rowRight[static_cast<size_t>(r)]);
    if (passRight > 0) {
      laneX += 10;
      const double xs = passRight + 14 + laneX;
      const double ya = y1 + kGapY / 2, yb = y2 - kGapY / 2;
      rightmost = std::max(rightmost, xs + 10);
      eo << "<path class=\"edge\" marker-end=\"url(#arrow)\" d=\"M" << fmt(x1) << "," << fmt(y1)
         << " C" << fmt(x1) << "," << fmt(ya) << " " << fmt(xs) << "," << fmt(y1) << " " << fmt(xs)
         << "," << fmt(ya) << " L" << fmt(xs) << "," << fmt(yb) << " C" << fmt(xs) << "," << fmt(y2)
         << " " << fmt(x2) << "," << fmt(yb) << " " << fmt(x2) << "," << fmt(y2) << "\"/>\n";
      eo << "<text class=\"elabel\" x=\"" << fmt(xs + 4) << "\" y=\"" << fmt((ya + yb) / 2) << "\">"
         << xmlEscape(truncated(e.label)) << "</text>\n";
      rightmost =
          std::max(rightmost, xs + 4 + 6.0 * static_cast<double>(truncated(e.label).size()));
      continue;
    }
    const double c = std::max(20.0, (y2 - y1) / 2);
    eo << "<path class=\"edge\" marker-end=\"url(#arrow)\" d=\"M" << fmt(x1) << "," << fmt(y1)
       << " C" << fmt(x1) << "," << fmt(y1 + c) << " " << fmt(x2) << "," << fmt(y2 - c) << " "
       << fmt(x2) << "," << fmt(y2) << "\"/>\n";
    eo << "<text class=\"elabel\" text-anchor=\"middle\" x=\"" << fmt((x1 + x2) / 2) << "\" y=\""
       << fmt((y1 + y2) / 2 + 3) << "\">" << xmlEscape(truncated(e.label)) << "</text>\n";
  }
  width = std::max(width, rightmost + kMargin);
  double legendRight = kMargin + 70;
  for (const std::string& p : v.precisions) legendRight += 28 + 7.0 * static_cast<double>(p.size());
  width = std::max(width, legendRight + kMargin);
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fmt(width) << "\" height=\""
     << fmt(height) << "\" viewBox=\"0 0 " << fmt(width) << " " << fmt(height) << "\">\n";
  os << "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
        "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" "
        "fill=\"#777\"/></marker></defs>\n";
  // Legend.
  os << "<g class=\"legend\">\n<text x=\"" << fmt(kMargin) << "\" y=\"" << fmt(kMargin + 12)
     << "\" class=\"b\">precision:</text>\n";
  double lx = kMargin + 70;
  for (const std::string& p : v.precisions) {
    os << "<rect x=\"" << fmt(lx) << "\" y=\"" << fmt(kMargin) << "\" width=\"14\" height=\"14\" "
       << "fill=\"" << precisionColor(p) << "\" stroke=\"#555\"/><text x=\"" << fmt(lx + 18)
       << "\" y=\"" << fmt(kMargin + 12) << "\">" << xmlEscape(p) << "</text>\n";
    lx += 28 + 7.0 * static_cast<double>(p.size());
  }
  os << "</g>\n";
  os << eo.str();
  os << "</g>\n<g class=\"nodes\">\n";
  for (size_t i = 0; i < v.nodes.size(); ++i) {
    const VNode& n = v.nodes[i];
    const bool layer = n.kind == VNode::kLayer;
    std::string tip;
    if (layer) {
      tip = layerDetails(g.layers[n.index]);
    } else {
      const GraphTensor& t = n.kind == VNode::kInput ? g.inputs[n.index] : g.outputs[n.index];
      tip = (n.kind == VNode::kInput ? "input: " : "output: ") + t.name + "\n" + tensorLabel(t);
    }
    os << "<g class=\"" << (layer ? "layer" : "io") << "\" id=\""
       << (layer                     ? "L"
           : n.kind == VNode::kInput ? "in"
                                     : "out")
       << n.index << "\"><title>" << xmlEscape(tip) << "</title>";
    os << "<rect x=\"" << fmt(n.x) << "\" y=\"" << fmt(n.y) << "\" width=\"" << fmt(n.w)
       << "\" height=\"" << fmt(n.h) << "\" rx=\"" << (layer ? "4" : "16")
       << "\" stroke=\"#555\" fill=\""
       << (layer ? precisionColor(g.layers[n.index].precision) : kIoColor) << "\"/>";
    const Lines& L = lines[i];
    for (size_t k = 0; k < L.text.size(); ++k)
      os << "<text x=\"" << fmt(n.x + kPad) << "\" y=\""
         << fmt(n.y + kPad + kLineH * static_cast<double>(k) + 11) << "\""
         << (L.bold[k]    ? " class=\"b\""
             : L.small[k] ? " class=\"s\""
                          : "")
         << ">" << xmlEscape(L.text[k]) << "</text>";
    os << "</g>\n";
  }
  os << "</g>\n</svg>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace kiln::cli

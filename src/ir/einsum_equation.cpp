#include "ir/einsum_equation.h"

#include <algorithm>
#include <map>

namespace kiln::ir {

namespace {

// One operand's term: its letters and where its ellipsis sits (-1: none).
struct Term {
  std::string letters;
  int ellipsisAt = -1;
};

Status parseTerm(const std::string& text, const std::string& eq, const std::string& who, Term* out) {
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '.') {
      if (text.compare(i, 3, "...") != 0 || out->ellipsisAt >= 0)
        return invalidArgument("%s: equation '%s': malformed ellipsis in term '%s'", who.c_str(), eq.c_str(),
                               text.c_str());
      out->ellipsisAt = static_cast<int>(out->letters.size());
      i += 3;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
      return invalidArgument("%s: equation '%s': unexpected character '%c' (labels are letters a-z, A-Z)",
                             who.c_str(), eq.c_str(), c);
    out->letters.push_back(c);
    ++i;
  }
  return Status::ok();
}

}  // namespace

StatusOr<EinsumSpec> parseEinsum(const std::string& equation, const std::vector<size_t>& ranks,
                                 const std::string& who) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq.push_back(c);
  if (eq.empty()) return invalidArgument("%s: attribute equation is required", who.c_str());
  const size_t arrow = eq.find("->");
  const bool explicitOut = arrow != std::string::npos;
  const std::string lhs = explicitOut ? eq.substr(0, arrow) : eq;
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    Term t;
    KILN_RETURN_IF_ERROR(parseTerm(lhs.substr(start, comma - start), equation, who, &t));
    terms.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ranks.size())
    return invalidArgument("%s: equation '%s' has %zu input terms but the node has %zu inputs", who.c_str(),
                           equation.c_str(), terms.size(), ranks.size());
  EinsumSpec spec;
  std::map<char, int> ids;
  std::map<char, int> counts;
  size_t numEllipsis = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term& t = terms[i];
    if (t.ellipsisAt < 0 && t.letters.size() != ranks[i])
      return invalidArgument("%s: equation '%s': term %zu has %zu labels but input %zu has rank %zu", who.c_str(),
                             equation.c_str(), i, t.letters.size(), i, ranks[i]);
    if (t.ellipsisAt >= 0 && t.letters.size() > ranks[i])
      return invalidArgument("%s: equation '%s': term %zu has %zu labels but input %zu has only rank %zu",
                             who.c_str(), equation.c_str(), i, t.letters.size(), i, ranks[i]);
    if (t.ellipsisAt >= 0) numEllipsis = std::max(numEllipsis, ranks[i] - t.letters.size());
    for (char c : t.letters) {
      if (!ids.count(c)) {
        ids[c] = static_cast<int>(spec.letters.size());
        spec.letters.push_back(c);
      }
      ++counts[c];
    }
  }
  spec.firstEllipsisLabel = static_cast<int>(spec.letters.size());
  spec.numLabels = spec.firstEllipsisLabel + static_cast<int>(numEllipsis);
  const int e0 = spec.firstEllipsisLabel;
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term& t = terms[i];
    std::vector<int> axes;
    const size_t ne = t.ellipsisAt >= 0 ? ranks[i] - t.letters.size() : 0;
    for (size_t k = 0; k <= t.letters.size(); ++k) {
      if (static_cast<int>(k) == t.ellipsisAt)
        for (size_t j = 0; j < ne; ++j) axes.push_back(e0 + static_cast<int>(numEllipsis - ne + j));
      if (k < t.letters.size()) axes.push_back(ids[t.letters[k]]);
    }
    spec.inputs.push_back(std::move(axes));
  }
  if (explicitOut) {
    Term out;
    KILN_RETURN_IF_ERROR(parseTerm(eq.substr(arrow + 2), equation, who, &out));
    if (out.ellipsisAt < 0 && numEllipsis > 0)
      return invalidArgument("%s: equation '%s': the inputs use '...' so the output must too", who.c_str(),
                             equation.c_str());
    std::map<char, int> outSeen;
    for (size_t k = 0; k <= out.letters.size(); ++k) {
      if (static_cast<int>(k) == out.ellipsisAt)
        for (size_t j = 0; j < numEllipsis; ++j) spec.output.push_back(e0 + static_cast<int>(j));
      if (k == out.letters.size()) break;
      const char c = out.letters[k];
      if (!ids.count(c))
        return invalidArgument("%s: equation '%s': output label '%c' does not appear in any input", who.c_str(),
                               equation.c_str(), c);
      if (outSeen[c]++)
        return invalidArgument("%s: equation '%s': output label '%c' is repeated", who.c_str(), equation.c_str(), c);
      spec.output.push_back(ids[c]);
    }
  } else {
    for (size_t j = 0; j < numEllipsis; ++j) spec.output.push_back(e0 + static_cast<int>(j));
    for (const auto& [c, n] : counts)  // std::map iterates in ASCII order
      if (n == 1) spec.output.push_back(ids[c]);
  }
  return spec;
}

}  // namespace kiln::ir

#include "early/exposition.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <system_error>

namespace nodeguard::early {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsLabelStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsLabelChar(char c) { return IsLabelStart(c) || (c >= '0' && c <= '9'); }

// A cursor over one line (without its '\n').
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool done() const { return i >= s.size(); }
  char peek() const { return s[i]; }
  void SkipSpace() {
    while (!done() && IsSpace(s[i])) ++i;
  }
  std::string_view Token() {  // Up to the next whitespace.
    size_t start = i;
    while (!done() && !IsSpace(s[i])) ++i;
    return s.substr(start, i - start);
  }
  std::string_view Name(bool (*start)(char), bool (*rest)(char)) {
    if (done() || !start(s[i])) return {};
    size_t begin = i++;
    while (!done() && rest(s[i])) ++i;
    return s.substr(begin, i - begin);
  }
};

std::optional<MetricType> ParseType(std::string_view t) {
  if (t == "counter") return MetricType::kCounter;
  if (t == "gauge") return MetricType::kGauge;
  if (t == "histogram") return MetricType::kHistogram;
  if (t == "summary") return MetricType::kSummary;
  if (t == "untyped") return MetricType::kUntyped;
  return std::nullopt;
}

constexpr std::string_view kSuffixes[] = {"_bucket", "_sum", "_count"};

// The index in `wanted` of the family sample `name` belongs to, and its suffix.
std::optional<size_t> WantedIndex(std::string_view name, std::span<const std::string> wanted,
                                  std::string_view* suffix) {
  for (size_t w = 0; w < wanted.size(); ++w) {
    const std::string& f = wanted[w];
    if (name.size() < f.size() || name.compare(0, f.size(), f) != 0) continue;
    std::string_view rest = name.substr(f.size());
    if (rest.empty()) {
      *suffix = {};
      return w;
    }
    for (std::string_view s : kSuffixes) {
      if (rest == s) {
        *suffix = s;
        return w;
      }
    }
  }
  return std::nullopt;
}

Error LineError(size_t line, std::string_view what) {
  return Error::Invalid("line " + std::to_string(line) + ": " + std::string(what));
}

// Parses `{name="value",...}` at the cursor (which is at '{').
Result<std::vector<Label>> ParseLabels(Cursor& c, size_t line, const ParseLimits& limits) {
  std::vector<Label> labels;
  ++c.i;  // '{'
  while (true) {
    c.SkipSpace();
    if (c.done()) return LineError(line, "unterminated label set");
    if (c.peek() == '}') {
      ++c.i;
      return labels;
    }
    std::string_view name = c.Name(IsLabelStart, IsLabelChar);
    if (name.empty()) return LineError(line, "expected a label name");
    c.SkipSpace();
    if (c.done() || c.peek() != '=') return LineError(line, "expected '=' after label name");
    ++c.i;
    c.SkipSpace();
    if (c.done() || c.peek() != '"') return LineError(line, "expected '\"' to open a label value");
    ++c.i;
    std::string value;
    bool closed = false;
    while (!c.done()) {
      char ch = c.s[c.i++];
      if (ch == '"') {
        closed = true;
        break;
      }
      if (ch != '\\') {
        value.push_back(ch);
        continue;
      }
      if (c.done()) break;
      char e = c.s[c.i++];
      if (e == '\\') {
        value.push_back('\\');
      } else if (e == '"') {
        value.push_back('"');
      } else if (e == 'n') {
        value.push_back('\n');
      } else {
        return LineError(line, "unknown escape in a label value");
      }
    }
    if (!closed) return LineError(line, "unterminated label value");
    for (const Label& l : labels) {
      if (l.name == name) return LineError(line, "duplicate label " + std::string(name));
    }
    if (labels.size() >= limits.max_labels) return LineError(line, "too many labels");
    labels.push_back(Label{std::string(name), std::move(value)});
    c.SkipSpace();
    if (c.done()) return LineError(line, "unterminated label set");
    if (c.peek() == ',') {
      ++c.i;
    } else if (c.peek() != '}') {
      return LineError(line, "expected ',' or '}' after a label value");
    }
  }
}

// A series' identity inside its family: suffix and sorted labels.
std::string SeriesKey(const Sample& s) {
  std::vector<const Label*> sorted;
  sorted.reserve(s.labels.size());
  for (const Label& l : s.labels) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(),
            [](const Label* a, const Label* b) { return a->name < b->name; });
  std::string key = s.suffix;
  for (const Label* l : sorted) {
    key.push_back('\0');
    key += l->name;
    key.push_back('\0');
    key += l->value;
  }
  return key;
}

}  // namespace

const char* MetricTypeName(MetricType t) {
  switch (t) {
    case MetricType::kUnknown:
      return "unknown";
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kUntyped:
      return "untyped";
  }
  return "unknown";
}

const std::string* Sample::LabelValue(std::string_view name) const {
  for (const Label& l : labels) {
    if (l.name == name) return &l.value;
  }
  return nullptr;
}

const Family* Exposition::Find(std::string_view name) const {
  for (const Family& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> ParseFloatValue(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text[0] == '+') {
    text.remove_prefix(1);
    if (text.empty() || text[0] == '-' || text[0] == '+') return std::nullopt;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<Exposition> ParseExposition(std::string_view body, std::span<const std::string> wanted,
                                   const ParseLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return Error::Invalid("body of " + std::to_string(body.size()) +
                          " bytes exceeds the limit of " + std::to_string(limits.max_body_bytes));
  }
  if (!body.empty() && body.back() != '\n') {
    return Error::Invalid("truncated body: the last line has no newline");
  }
  // Per wanted family: its decoded form (unset: not seen yet), and the
  // series seen, for duplicates.
  std::vector<std::optional<Family>> found(wanted.size());
  std::vector<std::set<std::string>> series(wanted.size());
  Exposition out;
  size_t kept = 0;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);  // Present: the body ends with '\n'.
    std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.size() > limits.max_line_bytes) return LineError(line_no, "line too long");
    Cursor c{line};
    c.SkipSpace();
    if (c.done()) continue;  // Blank.
    if (c.peek() == '#') {
      ++c.i;
      c.SkipSpace();
      std::string_view keyword = c.Token();
      if (keyword != "TYPE" && keyword != "HELP") continue;  // A plain comment.
      c.SkipSpace();
      std::string_view name = c.Name(IsNameStart, IsNameChar);
      if (name.empty() || (!c.done() && !IsSpace(c.peek()))) {
        return LineError(line_no, "# " + std::string(keyword) + " without a valid metric name");
      }
      auto it = std::find(wanted.begin(), wanted.end(), name);
      if (it == wanted.end() || keyword == "HELP") continue;
      size_t w = static_cast<size_t>(it - wanted.begin());
      c.SkipSpace();
      std::string_view type_text = c.Token();
      c.SkipSpace();
      std::optional<MetricType> type = ParseType(type_text);
      if (!type || !c.done()) return LineError(line_no, "bad TYPE line for " + std::string(name));
      if (found[w] && found[w]->type != MetricType::kUnknown) {
        return LineError(line_no, "second TYPE line for " + std::string(name));
      }
      if (found[w] && !found[w]->samples.empty()) {
        return LineError(line_no, "TYPE line after samples of " + std::string(name));
      }
      if (!found[w]) found[w] = Family{std::string(name), MetricType::kUnknown, {}};
      found[w]->type = *type;
      continue;
    }
    std::string_view name = c.Name(IsNameStart, IsNameChar);
    if (name.empty() || c.done() || (c.peek() != '{' && !IsSpace(c.peek()))) {
      return LineError(line_no, "not a sample, comment or blank line");
    }
    std::string_view suffix;
    std::optional<size_t> w = WantedIndex(name, wanted, &suffix);
    if (!w) {
      ++out.skipped_samples;
      continue;
    }
    Sample sample;
    sample.suffix = std::string(suffix);
    if (c.peek() == '{') {
      auto labels = ParseLabels(c, line_no, limits);
      if (!labels.ok()) return labels.error();
      sample.labels = std::move(labels).value();
    }
    if (c.done() || !IsSpace(c.peek())) return LineError(line_no, "expected a value");
    c.SkipSpace();
    std::optional<double> value = ParseFloatValue(c.Token());
    if (!value) return LineError(line_no, "malformed value");
    sample.value = *value;
    c.SkipSpace();
    if (!c.done()) {
      std::string_view ts = c.Token();
      int64_t ms = 0;
      auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), ms);
      if (ec != std::errc() || end != ts.data() + ts.size()) {
        return LineError(line_no, "malformed timestamp");
      }
      sample.timestamp_ms = ms;
      c.SkipSpace();
      if (!c.done()) return LineError(line_no, "trailing characters after the timestamp");
    }
    if (!found[*w]) found[*w] = Family{wanted[*w], MetricType::kUnknown, {}};
    if (!series[*w].insert(SeriesKey(sample)).second) {
      return LineError(line_no, "duplicate series of " + std::string(name));
    }
    if (++kept > limits.max_samples) {
      return Error::Invalid("more than " + std::to_string(limits.max_samples) +
                            " samples of the wanted families");
    }
    found[*w]->samples.push_back(std::move(sample));
  }
  out.lines = line_no;
  for (auto& f : found) {
    if (f) out.families.push_back(std::move(*f));
  }
  return out;
}

}  // namespace nodeguard::early

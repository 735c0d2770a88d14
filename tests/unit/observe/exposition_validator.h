#pragma once

// A checker for the Prometheus text exposition format 0.0.4, written from the
// format's grammar: each line must be a HELP, TYPE or sample line, and the
// lines must form well-ordered families (one HELP and TYPE per family, before
// its samples; sample names that belong to the family's type; cumulative
// histogram buckets ending in le="+Inf" equal to _count).

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace nodeguard::observe::testing {

class ExpositionValidator {
 public:
  // Returns one message per problem; empty when the text is valid.
  std::vector<std::string> Check(const std::string& text) {
    problems_.clear();
    if (!text.empty() && text.back() != '\n') problems_.push_back("output must end in a newline");
    size_t start = 0;
    int line_number = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      ++line_number;
      CheckLine(line_number, text.substr(start, end - start));
      start = end + 1;
    }
    FinishHistogram();
    return problems_;
  }

 private:
  static constexpr const char* kName = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  static constexpr const char* kLabelName = "[a-zA-Z_][a-zA-Z0-9_]*";
  static constexpr const char* kLabelValue = R"((?:[^"\\\n]|\\[\\"n])*)";
  static constexpr const char* kValue =
      R"((?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN))";

  void Problem(int line, const std::string& what) {
    problems_.push_back("line " + std::to_string(line) + ": " + what);
  }

  void CheckLine(int n, const std::string& line) {
    static const std::regex kHelp(std::string("^# HELP (") + kName +
                                  R"() ((?:[^\\\n]|\\[\\n])*)$)");
    static const std::regex kType(std::string("^# TYPE (") + kName +
                                  ") (counter|gauge|histogram|summary|untyped)$");
    // name, then optionally {label="value",...} (a trailing comma is allowed), a
    // space, the value, and an optional millisecond timestamp.
    static const std::string kPair = std::string(kLabelName) + "=\"" + kLabelValue + "\"";
    static const std::regex kSample(std::string("^(") + kName + ")((?:\\{(?:" + kPair + "(?:," +
                                    kPair + ")*,?)?\\})?) " + kValue + "(?: -?[0-9]+)?$");
    static const std::regex kLabel(std::string("(") + kLabelName + ")=\"(" + kLabelValue + ")\"");
    std::smatch m;
    if (line.empty()) {
      Problem(n, "empty line");
    } else if (line.rfind("# HELP ", 0) == 0) {
      if (!std::regex_match(line, m, kHelp)) return Problem(n, "bad HELP line: " + line);
      std::string name = m[1];
      if (!helped_.insert(name).second) Problem(n, "second HELP for " + name);
      if (typed_.count(name)) Problem(n, "HELP after TYPE for " + name);
      StartFamily(name);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      if (!std::regex_match(line, m, kType)) return Problem(n, "bad TYPE line: " + line);
      std::string name = m[1];
      if (typed_.count(name)) Problem(n, "second TYPE for " + name);
      if (name != family_) StartFamily(name);
      if (sampled_.count(name)) Problem(n, "TYPE after samples of " + name);
      typed_[name] = m[2];
    } else if (line[0] == '#') {
      // Other comments are allowed by the format; nodeguard writes none.
      Problem(n, "unexpected comment: " + line);
    } else {
      if (!std::regex_match(line, m, kSample)) return Problem(n, "bad sample line: " + line);
      std::string name = m[1];
      std::string labels = m[2];
      std::string value = line.substr(line.rfind(' ') + 1);
      CheckSample(n, name, labels, value, kLabel);
    }
  }

  void StartFamily(const std::string& name) {
    FinishHistogram();
    family_ = name;
  }

  void CheckSample(int n, const std::string& name, const std::string& labels,
                   const std::string& value, const std::regex& label_re) {
    auto type_it = typed_.find(family_);
    if (type_it == typed_.end()) return Problem(n, "sample before TYPE: " + name);
    const std::string& type = type_it->second;
    std::string suffix;
    if (name == family_) {
      if (type == "histogram") return Problem(n, "bare sample in histogram " + family_);
    } else if (type == "histogram" && name.rfind(family_, 0) == 0) {
      suffix = name.substr(family_.size());
      if (suffix != "_bucket" && suffix != "_sum" && suffix != "_count") {
        return Problem(n, "sample " + name + " outside family " + family_);
      }
    } else {
      return Problem(n, "sample " + name + " outside family " + family_);
    }
    sampled_.insert(family_);
    // Labels: no duplicates; "le" only on buckets.
    std::map<std::string, std::string> parsed;
    for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label_re);
         it != std::sregex_iterator(); ++it) {
      if (!parsed.emplace((*it)[1], (*it)[2]).second) Problem(n, "duplicate label in " + labels);
    }
    bool has_le = parsed.count("le") > 0;
    if (suffix == "_bucket" && !has_le) Problem(n, "bucket without le");
    if (suffix != "_bucket" && has_le) Problem(n, "le outside a bucket");
    if (type != "histogram") return;
    std::string le = has_le ? parsed["le"] : "";
    parsed.erase("le");
    std::string series;
    for (const auto& [k, v] : parsed) series += k + "=" + v + ",";
    Series& s = histograms_[series];
    double number = std::stod(value == "+Inf" ? "inf" : value);
    if (suffix == "_bucket") {
      if (s.saw_inf) Problem(n, "bucket after +Inf");
      if (number < s.last_bucket) Problem(n, "buckets are not cumulative");
      s.last_bucket = number;
      if (le == "+Inf") {
        s.saw_inf = true;
        s.inf_count = number;
      } else if (std::stod(le) <= s.last_le) {
        Problem(n, "le bounds not increasing");
      } else {
        s.last_le = std::stod(le);
      }
    } else if (suffix == "_count") {
      if (!s.saw_inf) Problem(n, "_count before the +Inf bucket");
      if (number != s.inf_count) Problem(n, "_count differs from the +Inf bucket");
      s.saw_count = true;
    } else if (suffix == "_sum") {
      s.saw_sum = true;
    }
  }

  void FinishHistogram() {
    for (const auto& [series, s] : histograms_) {
      if (!s.saw_inf || !s.saw_count || !s.saw_sum) {
        problems_.push_back("histogram " + family_ + "{" + series +
                            "} lacks +Inf bucket, _sum or _count");
      }
    }
    histograms_.clear();
  }

  struct Series {
    double last_bucket = 0;
    double last_le = -1e300;
    double inf_count = 0;
    bool saw_inf = false;
    bool saw_count = false;
    bool saw_sum = false;
  };

  std::vector<std::string> problems_;
  std::string family_;
  std::set<std::string> helped_;
  std::map<std::string, std::string> typed_;
  std::set<std::string> sampled_;
  std::map<std::string, Series> histograms_;  // Of the current family, by label set.
};

}  // namespace nodeguard::observe::testing

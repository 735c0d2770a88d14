#pragma once

// A bounded parser for the Prometheus text exposition format (version 0.0.4,
// what the kubelet's /metrics serves), for bodies the agent scrapes. Only the
// families the caller asks for are decoded, into slim structs; every other
// line is classified by its first token and skipped, so the cost of a
// ~200 KB kubelet body is one pass over its bytes.
//
// Format (https://prometheus.io/docs/instrumenting/exposition_formats/):
//   # HELP <name> <docstring>
//   # TYPE <name> counter|gauge|histogram|summary|untyped
//   <name>[{<label>="<value>",...}] <value> [<timestamp ms>]
// Lines end with '\n' (the last one too). Label values escape \\ \" and \n;
// values are Go floats ("NaN", "+Inf", "-Inf", "1.5e+09"); a timestamp is an
// integer in milliseconds. A histogram family <name> has samples
// <name>_bucket{le="..."}, <name>_sum and <name>_count.
//
// What it tolerates and what it refuses (a refusal is a Result error of kind
// kInvalid whose message names the line; nothing throws):
//   - a body over ParseLimits::max_body_bytes                -> error (bounded)
//   - a body whose last line has no '\n' (truncated)        -> error
//   - a line that is not blank, a comment, or starts with a valid metric name
//     followed by '{', ' ' or '\t' (garbage, an HTML error page)  -> error
//   - a line over ParseLimits::max_line_bytes                 -> error
//   - in a wanted family: a malformed label set or value, trailing garbage, an
//     unknown escape, a duplicate label name, a second TYPE line or one after
//     its samples, a duplicate series (same name and labels)  -> error
//   - more than ParseLimits::max_samples samples kept          -> error (bounded)
//   - lines of families not wanted: only their first token is checked; they
//     are counted (Exposition::skipped_samples), never decoded
//   - a wanted family that is absent                        -> not an error:
//     Exposition::Find returns nullptr (the caller reports the missing series)
//   - "\r\n" line ends: the '\r' is treated as trailing whitespace
//   - NaN, ±Inf values and timestamps: kept as they are
//
// Thread-compatible: pure functions on values.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace nodeguard::early {

enum class MetricType : uint8_t {
  kUnknown,  // No TYPE line was seen for the family.
  kCounter,
  kGauge,
  kHistogram,
  kSummary,
  kUntyped,
};
const char* MetricTypeName(MetricType t);

struct Label {
  std::string name;
  std::string value;  // Unescaped.
  friend bool operator==(const Label&, const Label&) = default;
};

struct Sample {
  // The sample name's part after the family name: "" or, for histograms and
  // summaries, "_bucket", "_sum", "_count".
  std::string suffix;
  std::vector<Label> labels;  // In the order of the line.
  double value = 0;
  std::optional<int64_t> timestamp_ms;

  // The value of label `name`, or nullptr.
  const std::string* LabelValue(std::string_view name) const;
};

struct Family {
  std::string name;
  MetricType type = MetricType::kUnknown;
  std::vector<Sample> samples;  // In the order of the body.
};

struct ParseLimits {
  size_t max_body_bytes = 8 << 20;  // A kubelet with 110 pods serves ~0.2-1 MB.
  size_t max_line_bytes = 64 << 10;
  size_t max_samples = 4096;  // Kept (wanted) samples, all families together.
  size_t max_labels = 32;     // Per kept sample.
};

struct Exposition {
  // One entry per wanted family that had a TYPE line or a sample, in the
  // order of the wanted list.
  std::vector<Family> families;
  size_t lines = 0;            // Lines in the body.
  size_t skipped_samples = 0;  // Sample lines of families not wanted.

  // The wanted family `name`, or nullptr when the body had none of it.
  const Family* Find(std::string_view name) const;
};

// Parses `body`, decoding only the families named in `wanted` (exact family
// names; a histogram's or summary's _bucket/_sum/_count samples belong to
// it). REQUIRES: `wanted` holds valid metric names, none the name of another
// plus one of those suffixes.
Result<Exposition> ParseExposition(std::string_view body, std::span<const std::string> wanted,
                                   const ParseLimits& limits = {});

// Parses a Go float as the format writes it ("NaN", "+Inf", "-Inf", "Inf",
// decimal or exponent notation). Exposed for tests.
std::optional<double> ParseFloatValue(std::string_view text);

}  // namespace nodeguard::early

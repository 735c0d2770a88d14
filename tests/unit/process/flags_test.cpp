#include "process/flags.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace nodeguard::process {
namespace {

struct Destinations {
  std::string metrics = ":8080";
  std::string probes = ":8081";
  std::string level = "info";
  std::string format = "text";
  ObservabilityFlags flags() { return {&metrics, &probes, &level, &format}; }
};

// Parses argv (without the program name) into fresh destinations.
Destinations Parse(std::vector<std::string> args) {
  Destinations d;
  CLI::App app;
  AddObservabilityFlags(app, d.flags());
  args.insert(args.begin(), "nodeguard");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return d;
}

TEST(ObservabilityFlags, KeepTheModesDefaultsWhenUnset) {
  const Destinations d = Parse({});
  EXPECT_EQ(d.metrics, ":8080");
  EXPECT_EQ(d.probes, ":8081");
  EXPECT_EQ(d.level, "info");
  EXPECT_EQ(d.format, "text");
}

TEST(ObservabilityFlags, FlagsSetEveryDestination) {
  const Destinations d =
      Parse({"--metrics-bind-address", "127.0.0.1:9000", "--health-probe-bind-address", "0",
             "--log-level", "debug", "--log-format", "json"});
  EXPECT_EQ(d.metrics, "127.0.0.1:9000");
  EXPECT_EQ(d.probes, "0");
  EXPECT_EQ(d.level, "debug");
  EXPECT_EQ(d.format, "json");
}

TEST(ObservabilityFlags, EnvironmentIsReadAndAFlagWins) {
  ::setenv("NODEGUARD_LOG_FORMAT", "json", 1);
  ::setenv("NODEGUARD_LOG_LEVEL", "warn", 1);
  const Destinations d = Parse({"--log-level", "error"});
  ::unsetenv("NODEGUARD_LOG_FORMAT");
  ::unsetenv("NODEGUARD_LOG_LEVEL");
  EXPECT_EQ(d.format, "json");
  EXPECT_EQ(d.level, "error");
}

TEST(ObservabilityFlags, RejectsUnknownLevelsAndFormats) {
  EXPECT_THROW(Parse({"--log-level", "verbose"}), CLI::ValidationError);
  EXPECT_THROW(Parse({"--log-format", "yaml"}), CLI::ValidationError);
}

TEST(ObservabilityFlags, HelpShowsTheDefaults) {
  Destinations d;
  CLI::App app;
  AddObservabilityFlags(app, d.flags());
  const std::string help = app.help();
  EXPECT_NE(help.find("NODEGUARD_METRICS_BIND_ADDRESS"), std::string::npos) << help;
  EXPECT_NE(help.find(":8081"), std::string::npos) << help;
}

}  // namespace
}  // namespace nodeguard::process

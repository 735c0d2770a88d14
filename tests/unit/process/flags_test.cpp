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

struct Limits {
  double qps = 20;
  int burst = 30;
};

// Parses argv (without the program name) into limits starting at 20/30.
Limits ParseLimits(std::vector<std::string> args) {
  Limits l;
  CLI::App app;
  AddApiClientFlags(app, {&l.qps, &l.burst}, "Why these defaults.");
  args.insert(args.begin(), "nodeguard");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return l;
}

// The message of the CLI::ValidationError `args` raise, or "" when they parse.
std::string LimitsError(std::vector<std::string> args) {
  try {
    ParseLimits(std::move(args));
  } catch (const CLI::ValidationError& e) {
    return e.what();
  }
  return "";
}

TEST(ApiClientFlags, KeepTheModesDefaultsAndTakeValues) {
  const Limits unset = ParseLimits({});
  EXPECT_EQ(unset.qps, 20);
  EXPECT_EQ(unset.burst, 30);
  const Limits set = ParseLimits({"--kube-api-qps", "0.5", "--kube-api-burst", "1"});
  EXPECT_EQ(set.qps, 0.5);
  EXPECT_EQ(set.burst, 1);
  ::setenv("NODEGUARD_KUBE_API_QPS", "7", 1);
  ::setenv("NODEGUARD_KUBE_API_BURST", "9", 1);
  const Limits env = ParseLimits({"--kube-api-burst", "11"});
  ::unsetenv("NODEGUARD_KUBE_API_QPS");
  ::unsetenv("NODEGUARD_KUBE_API_BURST");
  EXPECT_EQ(env.qps, 7);
  EXPECT_EQ(env.burst, 11);
}

TEST(ApiClientFlags, RejectInvalidValuesSayingWhatIsAllowed) {
  for (const char* qps : {"0", "-1", "abc", "nan", "inf", ""}) {
    const std::string error = LimitsError({"--kube-api-qps", qps});
    EXPECT_NE(error.find("--kube-api-qps: must be a number greater than 0"), std::string::npos)
        << qps << ": " << error;
  }
  for (const char* burst : {"0", "-3", "1.5", "x"}) {
    const std::string error = LimitsError({"--kube-api-burst", burst});
    EXPECT_NE(error.find("--kube-api-burst: must be an integer of at least 1"), std::string::npos)
        << burst << ": " << error;
  }
  EXPECT_EQ(ValidateApiClientLimits(20, 30), "");
  EXPECT_EQ(ValidateApiClientLimits(0.1, 1), "");
  EXPECT_NE(ValidateApiClientLimits(0, 30).find("--kube-api-qps"), std::string::npos);
  EXPECT_NE(ValidateApiClientLimits(20, 0).find("--kube-api-burst"), std::string::npos);
}

TEST(ApiClientFlags, HelpShowsThemWithTheDefaultsAndWhy) {
  Limits l;
  CLI::App app;
  AddApiClientFlags(app, {&l.qps, &l.burst}, "Why these defaults.");
  const std::string help = app.help();
  EXPECT_NE(help.find("--kube-api-qps"), std::string::npos) << help;
  EXPECT_NE(help.find("--kube-api-burst"), std::string::npos) << help;
  EXPECT_NE(help.find("NODEGUARD_KUBE_API_QPS"), std::string::npos) << help;
  EXPECT_NE(help.find("Why these defaults."), std::string::npos) << help;
  EXPECT_NE(help.find("30"), std::string::npos) << help;
}

}  // namespace
}  // namespace nodeguard::process

#include "reconcile/options.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

namespace nodeguard::runtime {
namespace {

ControllerOptions Parse(std::vector<std::string> args, std::string* error = nullptr) {
  ControllerOptions o;
  CLI::App app;
  AddControllerFlags(app, o);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (error) *error = e.what();
  }
  return o;
}

TEST(ControllerOptions, Defaults) {
  ControllerOptions o = Parse({});
  EXPECT_TRUE(o.leader_elect);
  EXPECT_EQ(o.leader_election_namespace, "nodeguard-system");
  EXPECT_EQ(o.max_concurrent_remediations, 1);
  EXPECT_EQ(o.resync_period, std::chrono::seconds(300));
  EXPECT_EQ(ValidateControllerOptions(o), "");
}

TEST(ControllerOptions, FlagsAndRanges) {
  ControllerOptions o = Parse({"--leader-elect=false", "--dry-run", "--workers", "4",
                               "--resync-period", "60", "--log-format", "json"});
  EXPECT_FALSE(o.leader_elect);
  EXPECT_TRUE(o.dry_run);
  EXPECT_EQ(o.workers, 4);
  EXPECT_EQ(o.resync_period, std::chrono::seconds(60));
  EXPECT_EQ(o.log_format, "json");

  std::string error;
  Parse({"--max-concurrent-remediations", "0"}, &error);
  EXPECT_NE(error.find("max-concurrent-remediations"), std::string::npos) << error;
  error.clear();
  Parse({"--log-format", "xml"}, &error);
  EXPECT_FALSE(error.empty());
}

TEST(ControllerOptions, ReconcileStallTimeout) {
  EXPECT_EQ(Parse({}).reconcile_stall_timeout, std::chrono::seconds(900));
  EXPECT_EQ(Parse({"--reconcile-stall-timeout", "5"}).reconcile_stall_timeout,
            std::chrono::seconds(5));
  std::string error;
  Parse({"--reconcile-stall-timeout", "0"}, &error);
  EXPECT_NE(error.find("--reconcile-stall-timeout"), std::string::npos) << error;
}

TEST(ControllerOptions, HygieneWritePacerDefaultsToAQuarterOfTheClientAndIsValidated) {
  ControllerOptions o = Parse({});
  EXPECT_EQ(o.hygiene_write_qps, 5);
  EXPECT_EQ(o.hygiene_write_burst, 50);
  EXPECT_LE(o.hygiene_write_qps * 4, o.kube_api_qps);
  o = Parse({"--hygiene-write-qps", "0.5", "--hygiene-write-burst", "10"});
  EXPECT_EQ(o.hygiene_write_qps, 0.5);
  EXPECT_EQ(o.hygiene_write_burst, 10);
  std::string error;
  Parse({"--hygiene-write-qps", "0"}, &error);
  EXPECT_NE(error.find("--hygiene-write-qps"), std::string::npos) << error;
  error.clear();
  Parse({"--hygiene-write-burst", "0"}, &error);
  EXPECT_NE(error.find("--hygiene-write-burst"), std::string::npos) << error;
}

TEST(ControllerOptions, ApiClientLimitsDefaultToControllerRuntimesAndAreValidated) {
  ControllerOptions o = Parse({});
  EXPECT_EQ(o.kube_api_qps, 20);
  EXPECT_EQ(o.kube_api_burst, 30);
  o = Parse({"--kube-api-qps", "50", "--kube-api-burst", "100"});
  EXPECT_EQ(o.kube_api_qps, 50);
  EXPECT_EQ(o.kube_api_burst, 100);
  std::string error;
  Parse({"--kube-api-qps", "-2"}, &error);
  EXPECT_NE(error.find("--kube-api-qps: must be a number greater than 0"), std::string::npos)
      << error;
  error.clear();
  Parse({"--kube-api-burst", "0"}, &error);
  EXPECT_NE(error.find("--kube-api-burst: must be an integer of at least 1"), std::string::npos)
      << error;
  o.kube_api_burst = 0;
  EXPECT_NE(ValidateControllerOptions(o).find("--kube-api-burst"), std::string::npos);
}

TEST(ControllerOptions, EnvironmentTwin) {
  ::setenv("NODEGUARD_MAX_CONCURRENT_REMEDIATIONS", "3", 1);
  ControllerOptions o = Parse({});
  ::unsetenv("NODEGUARD_MAX_CONCURRENT_REMEDIATIONS");
  EXPECT_EQ(o.max_concurrent_remediations, 3);
}

TEST(ControllerOptions, WatchFilterSelectsOnItsLabel) {
  EXPECT_EQ(WatchFilterSelector(Parse({}).watch_filter), "");
  ControllerOptions o = Parse({"--watch-filter", "rem-storm"});
  EXPECT_EQ(o.watch_filter, "rem-storm");
  EXPECT_EQ(WatchFilterSelector(o.watch_filter), "nodeguard.io/watch-filter=rem-storm");

  // A value the API server would refuse as a label value is refused here, with
  // what a label value may be, instead of a controller that lists nothing.
  for (const char* bad : {"a=b", "-edge", "edge-", "has space",
                          "x234567890123456789012345678901234567890123456789012345678901234"}) {
    std::string error;
    Parse({"--watch-filter", bad}, &error);
    EXPECT_NE(error.find("label value"), std::string::npos) << bad << ": " << error;
  }
}

TEST(ControllerOptions, LeaderElectionNeedsALease) {
  ControllerOptions o;
  o.leader_election_id = "";
  EXPECT_NE(ValidateControllerOptions(o), "");
  o.leader_elect = false;
  EXPECT_EQ(ValidateControllerOptions(o), "");
}

// `nodeguard controller --help` documents every flag the parser accepts:
// iterates the options AddControllerFlags registered, so a new flag cannot
// be left out.
TEST(ControllerOptions, HelpListsEveryFlagWithItsDescriptionAndEnvironmentVariable) {
  ControllerOptions o;
  CLI::App app("nodeguard");
  CLI::App* controller = app.add_subcommand("controller", "Run the cluster-wide controller");
  AddControllerFlags(*controller, o);
  const std::string help = controller->help();
  const std::vector<CLI::Option*> options = controller->get_options();
  ASSERT_GE(options.size(), 14u) << help;  // --help and the 13 settings.
  for (const CLI::Option* option : options) {
    ASSERT_FALSE(option->get_lnames().empty()) << option->get_name();
    for (const std::string& name : option->get_lnames()) {
      EXPECT_NE(help.find("--" + name), std::string::npos) << "--" << name << " missing:\n" << help;
    }
    EXPECT_FALSE(option->get_description().empty()) << option->get_name();
    if (option->get_lnames().front() == "help") continue;
    EXPECT_NE(option->get_group(), "") << option->get_name() << " is hidden from --help";
    ASSERT_FALSE(option->get_envname().empty())
        << option->get_name() << " has no environment variable";
    EXPECT_NE(help.find(option->get_envname()), std::string::npos)
        << option->get_envname() << " missing:\n"
        << help;
  }
}

}  // namespace
}  // namespace nodeguard::runtime

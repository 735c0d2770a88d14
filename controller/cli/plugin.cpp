#include "cli/plugin.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/decode.h"
#include "cli/view.h"
#include "common/duration.h"
#include "kube/config.h"
#include "kube/decode.h"
#include "kube/events.h"
#include "kube/rest.h"
#include "kube/transport_cpprest.h"
#include "reconcile/resolver.h"
#include "version.h"

namespace nodeguard::cli {
namespace {

struct Options {
  std::string kubeconfig;
  std::string context;
  std::string output = "table";
  std::string selector;
  std::string request_timeout = "30s";
  std::string name;  // POLICY or NODE.
  bool all_nodes = false;
};

// An error to print and the exit code it means.
struct Failure {
  int code = kExitApiError;
  std::string message;
};

Failure ApiFailure(const std::string& doing, const Error& e) {
  return {kExitApiError, doing + ": " + e.ToString()};
}

class Client {
 public:
  static Result<std::unique_ptr<Client>> Open(const Options& o, Duration timeout) {
    kube::ConfigSources sources = kube::ConfigSources::FromEnvironment();
    sources.explicit_path = o.kubeconfig;
    sources.context = o.context;
    auto config = kube::LoadClientConfig(sources);
    if (!config.ok()) return config.error();
    config->user_agent = std::string("kubectl-nodeguard/") + kVersion;
    auto http = kube::MakeCpprestHttpClient(*config);
    if (!http.ok()) return http.error();
    kube::RestOptions options;
    options.max_attempts = 3;
    options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    options.field_manager = "kubectl-nodeguard";
    return std::make_unique<Client>(std::move(http).value(), options);
  }

  Client(std::unique_ptr<kube::HttpClient> http, const kube::RestOptions& options)
      : http_(std::move(http)), rest_(*http_, options) {}
  kube::RestClient& rest() { return rest_; }

 private:
  std::unique_ptr<kube::HttpClient> http_;
  kube::RestClient rest_;
};

const kube::ResourcePath kPolicies = kube::GroupResource(api::kGroup, api::kVersion, api::kPlural);
const kube::ResourcePath kNodes = kube::CoreResource("nodes");
const kube::ResourcePath kPods = kube::CoreResource("pods");
// Pods that may count toward a cap: Succeeded/Failed ones never do.
constexpr const char* kLivePods = "status.phase!=Succeeded,status.phase!=Failed";

std::optional<Failure> ListPolicies(kube::RestClient& rest, const std::string& selector,
                                    std::vector<api::NodeHealthPolicy>* out) {
  kube::ListOptions list;
  list.label_selector = selector;
  auto items = rest.ListAll(kPolicies, list);
  if (!items.ok()) {
    if (items.error().Is(ErrorKind::kNotFound)) {
      return Failure{kExitApiError,
                     "the NodeHealthPolicy API (nodeguard.io/v1alpha1) is not served: is "
                     "nodeguard's CRD installed? (docs/install.md)"};
    }
    return ApiFailure("listing NodeHealthPolicies", items.error());
  }
  for (const auto& text : items->items) {
    auto parsed = api::ParsePolicy(std::string_view(text));
    if (!parsed.ok()) return ApiFailure("decoding a NodeHealthPolicy", parsed.error());
    out->push_back(std::move(parsed->policy));
  }
  return std::nullopt;
}

// Every object of `path` matching `list`, decoded. `skip_odd`: an object
// that does not decode is left out rather than failing the whole view.
template <typename T>
std::optional<Failure> ListDecoded(kube::RestClient& rest, const kube::ResourcePath& path,
                                   const kube::ListOptions& list, const std::string& what,
                                   bool skip_odd, std::vector<T>* out) {
  auto items = rest.ListAll(path, list);
  if (!items.ok()) return ApiFailure("listing " + what, items.error());
  for (const auto& text : items->items) {
    auto object = kube::DecodeObject<T>(text);
    if (object.ok()) {
      out->push_back(std::move(object).value());
    } else if (!skip_odd) {
      return ApiFailure("decoding one of the " + what, object.error());
    }
  }
  return std::nullopt;
}

std::optional<Failure> ListNodes(kube::RestClient& rest, const std::string& selector,
                                 std::vector<kube::Node>* out) {
  kube::ListOptions list;
  list.label_selector = selector;
  return ListDecoded(rest, kNodes, list, "nodes", /*skip_odd=*/false, out);
}

// One odd pod does not stop the view.
std::optional<Failure> ListPods(kube::RestClient& rest, const std::string& field_selector,
                                std::vector<kube::Pod>* out) {
  kube::ListOptions list;
  list.field_selector = field_selector;
  return ListDecoded(rest, kPods, list, "pods", /*skip_odd=*/true, out);
}

// GET NODE: kExitRefused when it does not exist.
std::optional<Failure> GetNode(kube::RestClient& rest, const std::string& name, kube::Node* out) {
  auto text = rest.Get(kNodes, name);
  if (!text.ok()) {
    if (text.error().Is(ErrorKind::kNotFound)) {
      return Failure{kExitRefused, "node " + name + " not found"};
    }
    return ApiFailure("reading node " + name, text.error());
  }
  auto node = kube::DecodeObject<kube::Node>(*text);
  if (!node.ok()) return ApiFailure("decoding node " + name, node.error());
  *out = std::move(node).value();
  return std::nullopt;
}

std::optional<Failure> GetPolicy(kube::RestClient& rest, const std::string& name,
                                 api::NodeHealthPolicy* out) {
  auto text = rest.Get(kPolicies, name);
  if (!text.ok()) {
    if (text.error().Is(ErrorKind::kNotFound)) {
      return Failure{kExitRefused, "NodeHealthPolicy " + name + " not found"};
    }
    return ApiFailure("reading NodeHealthPolicy " + name, text.error());
  }
  auto parsed = api::ParsePolicy(std::string_view(*text));
  if (!parsed.ok()) return ApiFailure("decoding NodeHealthPolicy " + name, parsed.error());
  *out = std::move(parsed->policy);
  return std::nullopt;
}

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }
void PrintJson(const nlohmann::json& j) { Print(j.dump(2) + "\n"); }

std::optional<Failure> Status(Client& c, const Options& o) {
  Snapshot s;
  if (auto f = ListPolicies(c.rest(), o.selector, &s.policies)) return f;
  if (!o.name.empty()) {
    bool found = false;
    for (const auto& p : s.policies) found = found || p.meta.name == o.name;
    if (!found) return Failure{kExitRefused, "NodeHealthPolicy " + o.name + " not found"};
  }
  if (auto f = ListNodes(c.rest(), o.selector, &s.nodes)) return f;
  if (auto f = ListPods(c.rest(), kLivePods, &s.pods)) return f;
  s.now = std::chrono::system_clock::now();
  const StatusView view = BuildStatus(s, o.name, o.all_nodes);
  if (o.output == "json") {
    PrintJson(StatusJson(view));
  } else {
    Print(FormatStatus(view, s.now));
  }
  return std::nullopt;
}

std::optional<Failure> ExplainNode(Client& c, const Options& o) {
  Snapshot s;
  kube::Node node;
  if (auto f = GetNode(c.rest(), o.name, &node)) return f;
  if (auto f = ListPolicies(c.rest(), o.selector, &s.policies)) return f;
  if (auto f = ListPods(c.rest(), std::string(kLivePods) + ",spec.nodeName=" + o.name, &s.pods)) {
    return f;
  }
  s.nodes.push_back(std::move(node));
  s.now = std::chrono::system_clock::now();
  const Explanation e = Explain(s, o.name);
  if (o.output == "json") {
    PrintJson(ExplanationJson(e));
  } else {
    Print(FormatExplanation(e, s.now));
  }
  return std::nullopt;
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

std::optional<Failure> Release(Client& c, const Options& o) {
  kube::Node node;
  if (auto f = GetNode(c.rest(), o.name, &node)) return f;
  std::vector<api::NodeHealthPolicy> policies;
  if (auto f = ListPolicies(c.rest(), o.selector, &policies)) return f;
  std::vector<const api::NodeHealthPolicy*> sorted;
  for (const auto& p : policies) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(),
            [](const api::NodeHealthPolicy* a, const api::NodeHealthPolicy* b) {
              return runtime::GovernsBefore(*a, *b);
            });
  const api::NodeHealthPolicy* governing = runtime::GoverningPolicy(sorted, node);

  const auto now = std::chrono::system_clock::now();
  const ReleaseDecision d =
      DecideRelease(node, node.Annotation(remediation::kRemediationAnnotation), governing, now);
  if (d.kind == ReleaseDecision::kRefuse) return Failure{kExitRefused, d.message};
  if (d.kind == ReleaseDecision::kAlreadyReleased) {
    Print(d.message + "\n");
    return std::nullopt;
  }
  auto patched = c.rest().Patch(kNodes, o.name, kube::PatchType::kMerge, d.patch);
  if (!patched.ok()) {
    if (patched.error().Is(ErrorKind::kConflict)) {
      return Failure{kExitApiError, "node " + o.name +
                                        " changed while it was being released (nodeguard or "
                                        "someone else wrote it): nothing was changed; run the "
                                        "command again"};
    }
    return ApiFailure("releasing node " + o.name, patched.error());
  }
  Print(d.message + "\n");

  kube::EventRecord event;
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), "%llx", static_cast<unsigned long long>(nanos));
  event.name = o.name + "." + suffix;
  event.namespace_ = "default";
  event.involved = {"Node", "v1", "", o.name, node.meta.uid.str()};
  event.type = kube::EventType::kNormal;
  event.reason = "RemediationReleased";
  event.message = d.event_message;
  event.first_timestamp = now;
  event.last_timestamp = now;
  event.component = "kubectl-nodeguard";
  event.host = Hostname();
  auto created = c.rest().Create(kube::CoreResource("events", event.namespace_), event.ToJson());
  if (!created.ok()) {
    // The release itself happened; the Event is the record of who did it.
    std::fprintf(stderr, "warning: the node was released, but its Event was not recorded: %s\n",
                 created.error().ToString().c_str());
  }
  return std::nullopt;
}

std::optional<Failure> Pause(Client& c, const Options& o, bool pause) {
  api::NodeHealthPolicy policy;
  if (auto f = GetPolicy(c.rest(), o.name, &policy)) return f;
  const PauseDecision d = DecidePause(policy, pause);
  if (d.change) {
    auto patched = c.rest().Patch(kPolicies, o.name, kube::PatchType::kMerge, d.patch);
    if (!patched.ok()) {
      if (patched.error().Is(ErrorKind::kNotFound)) {
        return Failure{kExitRefused, "NodeHealthPolicy " + o.name + " not found"};
      }
      return ApiFailure(std::string(pause ? "pausing" : "resuming") + " NodeHealthPolicy " + o.name,
                        patched.error());
    }
  }
  Print(d.message + "\n");
  return std::nullopt;
}

}  // namespace

int RunPlugin(int argc, char** argv) {
  CLI::App app{
      "kubectl nodeguard: what nodeguard is doing to which node and why, and the few things a "
      "person does about it (docs/kubectl-plugin.md).\n"
      "Exit codes: 0 done (also when nothing needed doing), 1 configuration or API server "
      "error, 2 usage, 3 not found or refused.",
      "kubectl nodeguard"};
  app.set_version_flag("--version", std::string("kubectl-nodeguard ") + kVersion);
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  app.add_option("--kubeconfig", o.kubeconfig,
                 "Path to the kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  app.add_option("--context", o.context, "The kubeconfig context to use");
  app.add_option("-o,--output", o.output, "Output format: table or json (status, explain)")
      ->check(CLI::IsMember({"table", "json"}));
  app.add_option("-l,--selector", o.selector,
                 "Label selector on nodes and policies (as nodeguard's --watch-filter narrows "
                 "them), e.g. nodeguard.io/watch-filter=team-a");
  app.add_option("--request-timeout", o.request_timeout,
                 "Timeout of each request to the API server")
      ->capture_default_str();

  CLI::App* status = app.add_subcommand(
      "status",
      "Policies (mode, nodes tainted, remediating, failed, storm) and the nodes that "
      "need attention, in one screen");
  status->add_option("POLICY", o.name, "Only this policy and the nodes it selects");
  status->add_flag("-A,--all", o.all_nodes, "List every node, not only those out of the ordinary");
  CLI::App* explain = app.add_subcommand(
      "explain",
      "Why a node is capped, cordoned, remediating, failed or left alone, in words, "
      "with the next step");
  explain->add_option("NODE", o.name)->required();
  CLI::App* release = app.add_subcommand(
      "release",
      "Hand a node whose remediation failed back (the runbook's uncordon): only nodeguard's "
      "own cordon of a Failed remediation, only on a Ready, healthy node; recorded in an Event");
  release->add_option("NODE", o.name)->required();
  CLI::App* pause = app.add_subcommand(
      "pause", "Set spec.paused: no new taints, cordons, drains or agent actions");
  pause->add_option("POLICY", o.name)->required();
  CLI::App* resume = app.add_subcommand("resume", "Clear spec.paused");
  resume->add_option("POLICY", o.name)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (o.output == "json" && !(status->parsed() || explain->parsed())) {
    std::fprintf(stderr, "error: -o json is for status and explain\n");
    return kExitUsage;
  }

  auto timeout = ParseGoDuration(o.request_timeout);
  if (!timeout.ok() || *timeout <= Duration(0)) {
    std::fprintf(stderr, "error: --request-timeout %s: expected a positive duration such as 30s\n",
                 o.request_timeout.c_str());
    return kExitUsage;
  }
  auto client = Client::Open(o, *timeout);
  if (!client.ok()) {
    std::fprintf(stderr, "error: %s\n", client.error().ToString().c_str());
    return kExitApiError;
  }
  std::optional<Failure> failure;
  if (status->parsed()) failure = Status(**client, o);
  if (explain->parsed()) failure = ExplainNode(**client, o);
  if (release->parsed()) failure = Release(**client, o);
  if (pause->parsed()) failure = Pause(**client, o, true);
  if (resume->parsed()) failure = Pause(**client, o, false);
  if (failure) {
    std::fprintf(stderr, "error: %s\n", failure->message.c_str());
    return failure->code;
  }
  return kExitOk;
}

}  // namespace nodeguard::cli

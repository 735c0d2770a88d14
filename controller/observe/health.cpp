#include "observe/health.h"

#include <algorithm>
#include <exception>

namespace nodeguard::observe {

namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

// Runs a check, turning an escaped exception into a failure.
Status RunCheck(const HealthCheck& check) {
  try {
    return check();
  } catch (const std::exception& e) {
    return Error::Internal(std::string("check threw: ") + e.what());
  }
}

std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

void HealthChecks::Add(std::string name, HealthCheck check) {
  std::lock_guard lock(mu_);
  checks_.push_back(Named{std::move(name), std::move(check)});
}

HttpServerReply HealthChecks::Serve(const HttpServerRequest& request) const {
  std::vector<Named> checks;
  {
    std::lock_guard lock(mu_);
    checks = checks_;  // Run checks without holding the lock.
  }

  // "/readyz/<name>": one check.
  const std::string prefix = "/" + endpoint_ + "/";
  if (request.path.rfind(prefix, 0) == 0) {
    std::string name = request.path.substr(prefix.size());
    for (const Named& named : checks) {
      if (named.name != name) continue;
      Status status = RunCheck(named.check);
      if (status.ok()) return HttpServerReply{200, kText, "ok"};
      return HttpServerReply{500, kText,
                             "internal server error: " + OneLine(status.error().message) + "\n"};
    }
    return HttpServerReply{404, kText, "404 page not found\n"};
  }

  std::vector<std::string> excluded = request.ParamValues("exclude");
  bool failed = false;
  std::string report;
  for (const Named& named : checks) {
    if (std::find(excluded.begin(), excluded.end(), named.name) != excluded.end()) {
      report += "[+]" + named.name + " excluded: ok\n";
      continue;
    }
    Status status = RunCheck(named.check);
    if (status.ok()) {
      report += "[+]" + named.name + " ok\n";
    } else {
      failed = true;
      report += "[-]" + named.name + " failed: " + OneLine(status.error().message) + "\n";
    }
  }
  if (failed) return HttpServerReply{500, kText, report + endpoint_ + " check failed\n"};
  if (request.HasParam("verbose")) {
    return HttpServerReply{200, kText, report + endpoint_ + " check passed\n"};
  }
  return HttpServerReply{200, kText, "ok"};
}

void ServeMetrics(HttpServer& server, const MetricsRegistry& registry) {
  server.Handle("/metrics", [&registry](const HttpServerRequest&) {
    return HttpServerReply{200, std::string(kExpositionContentType), registry.Render()};
  });
}

void ServeHealth(HttpServer& server, const HealthChecks& checks) {
  server.Handle(
      "/" + checks.endpoint(),
      [&checks](const HttpServerRequest& request) { return checks.Serve(request); },
      /*subtree=*/true);
}

}  // namespace nodeguard::observe

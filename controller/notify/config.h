#pragma once

// The notifications configuration: a YAML file named by the controller's
// --notifications-config flag, meant to be a mounted Secret (it holds the
// webhook URLs and signing secrets), so the controller needs no RBAC on
// Secrets at all:
//
//   cluster: prod-hz-1            # Shown in every message; optional.
//   sinks:
//   - name: oncall-dingtalk       # Unique; the metrics' `sink` label.
//     type: dingtalk              # dingtalk | slack | webhook
//     url: https://oapi.dingtalk.com/robot/send?access_token=...
//     secret: SEC...              # dingtalk only: the signed mode's secret.
//     kinds: [remediation.failed, storm.detected]   # Optional; default all.
//   densityInterval: 10m          # Optional: at most one density message per
//                                 # policy per interval (default 10m).
//
// Parsing is pure; errors name the sink and the field, never a URL or a
// secret.

#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "common/result.h"
#include "notify/sink.h"

namespace nodeguard::notify {

struct NotificationsConfig {
  std::string cluster;
  std::vector<SinkConfig> sinks;
  Duration density_interval = std::chrono::minutes(10);
};

// `allow_http`: accept http:// URLs (tests only).
Result<NotificationsConfig> ParseNotificationsConfig(std::string_view yaml, bool allow_http);

}  // namespace nodeguard::notify

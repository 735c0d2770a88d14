#pragma once

// Where the API server is and how to authenticate to it: kubeconfig files,
// in-cluster service-account configuration, and exec credential plugins.
//
// Precedence (LoadClientConfig), as controller-runtime's GetConfig:
//   1. an explicit kubeconfig path (--kubeconfig);
//   2. $KUBECONFIG, a ':'-separated list of files;
//   3. in-cluster configuration when KUBERNETES_SERVICE_HOST is set;
//   4. ~/.kube/config.
//
// Merging several kubeconfig files (simplified client-go rules): files are read
// in order; the first file that sets current-context wins; a cluster, user or
// context defined under the same name in several files is taken from the first
// file that defines it. Relative file paths inside a kubeconfig resolve against
// the directory of the file that contains them.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::kube {

// Supplies the bearer token for each request. Implementations are thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The token to send now, or an Error (kUnauthorized) naming why none is available.
  virtual Result<std::string> Token() = 0;
};

std::shared_ptr<TokenSource> MakeStaticTokenSource(std::string token);

// Reads a token file and re-reads it once the cached copy is older than
// `refresh`, so rotated (projected service-account) tokens are picked up. A
// failed re-read keeps serving the last good token, as client-go does.
class FileTokenSource final : public TokenSource {
 public:
  FileTokenSource(std::string path, const Clock& clock,
                  std::chrono::seconds refresh = std::chrono::minutes(1));
  Result<std::string> Token() override;

 private:
  const std::string path_;
  const Clock& clock_;
  const std::chrono::seconds refresh_;
  std::mutex mu_;
  std::string token_;       // Guarded by mu_.
  MonoTime read_at_;        // Guarded by mu_.
  bool has_token_ = false;  // Guarded by mu_.
};

// A user's `exec` credential plugin (client.authentication.k8s.io ExecCredential).
struct ExecPluginConfig {
  std::string api_version;  // e.g. "client.authentication.k8s.io/v1".
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string install_hint;
  std::string user_name;  // The kubeconfig user, for error messages.
};

// What a plugin run returned.
struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  std::optional<WallTime> expiration;  // Absent: valid until the process exits.
};

// Runs the plugin (with KUBERNETES_EXEC_INFO set, stdin closed) and parses its
// ExecCredential. Errors name the plugin command and carry its stderr.
Result<ExecCredential> RunExecPlugin(const ExecPluginConfig& plugin,
                                     std::chrono::seconds timeout = std::chrono::seconds(60));

// Serves the plugin's token, re-running the plugin once it has expired.
class ExecTokenSource final : public TokenSource {
 public:
  ExecTokenSource(ExecPluginConfig plugin, ExecCredential first, const Clock& clock);
  Result<std::string> Token() override;

 private:
  const ExecPluginConfig plugin_;
  const Clock& clock_;
  std::mutex mu_;
  ExecCredential credential_;  // Guarded by mu_.
};

// Everything needed to talk to one API server. Certificates and keys are PEM
// text (already read from files or decoded from base64 -data fields).
struct ClientConfig {
  std::string server;  // "https://10.0.0.1:443", no trailing slash.
  std::string ca_pem;  // Empty: the system trust store.
  std::string client_certificate_pem;
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;         // SNI and the name verified; empty: the server's host.
  std::shared_ptr<TokenSource> token;  // Null: no Authorization header.
  std::string namespace_ = "default";  // The context's or the pod's namespace.
  std::string user_agent = "nodeguard";
  std::string description;  // "kubeconfig /root/.kube/config, context kind" for logs.
};

// The process inputs the loaders read, injectable so tests need no real
// environment, home directory or service-account mount.
struct ConfigSources {
  std::string explicit_path;   // --kubeconfig; empty: unset.
  std::string context;         // --context override; empty: the current context.
  std::string kubeconfig_env;  // $KUBECONFIG.
  std::string home;            // $HOME.
  std::string service_host;    // $KUBERNETES_SERVICE_HOST.
  std::string service_port;    // $KUBERNETES_SERVICE_PORT.
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  const Clock* clock = &RealClock::Instance();

  // Reads the variables above from the process environment.
  static ConfigSources FromEnvironment();
};

// Loads and merges kubeconfig files (see the merge rules above), selecting
// `context` or, if empty, the current context.
// REQUIRES: !paths.empty().
Result<ClientConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                    const std::string& context = "",
                                    const Clock& clock = RealClock::Instance());

// In-cluster configuration from the service host/port variables and the
// service-account mount (token, ca.crt, namespace). The token is re-read every minute.
Result<ClientConfig> LoadInClusterConfig(const ConfigSources& sources);

// Applies the precedence described at the top of this file.
Result<ClientConfig> LoadClientConfig(const ConfigSources& sources);

// Decodes standard base64 (with or without padding, whitespace ignored).
Result<std::string> DecodeBase64(std::string_view text);

}  // namespace nodeguard::kube

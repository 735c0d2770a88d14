#include "kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/time.h"
#include "subprocess/subprocess.h"

namespace nodeguard::kube {
namespace {

// A credential with a certificate chain is a few KiB; far more is not one.
constexpr size_t kMaxExecPluginOutput = 1 << 20;

namespace fs = std::filesystem;

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  const auto begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound("cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Error Unauthorized(std::string message) {
  return Error::Of(ErrorKind::kUnauthorized, std::move(message));
}

class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  Result<std::string> Token() override { return token_; }

 private:
  const std::string token_;
};

// ------------------------------------------------------------ kubeconfig model

// One named entry (cluster, user or context) and the directory of the file
// that defined it, against which its relative paths resolve.
struct Entry {
  YAML::Node node;
  fs::path base_dir;
};

struct MergedKubeconfig {
  std::string current_context;
  std::map<std::string, Entry> clusters, users, contexts;
};

std::string Scalar(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

bool Bool(const YAML::Node& node, const char* key) {
  const YAML::Node v = node[key];
  return v && v.IsScalar() && v.as<bool>(false);
}

std::string Resolve(const fs::path& base_dir, const std::string& path) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_relative()) p = base_dir / p;
  return p.string();
}

// Adds the named entries of `list` (a sequence of {name, <field>}) not yet present.
Status MergeNamed(const YAML::Node& list, const char* field, const fs::path& base_dir,
                  const std::string& file, std::map<std::string, Entry>& into) {
  if (!list) return Status::Ok();
  if (!list.IsSequence()) return Error::Invalid(file + ": expected a list under " + field + "s");
  for (const auto& item : list) {
    const std::string name = Scalar(item, "name");
    if (name.empty()) return Error::Invalid(file + ": a " + std::string(field) + " has no name");
    into.try_emplace(name,
                     Entry{item[field] ? item[field] : YAML::Node(YAML::NodeType::Map), base_dir});
  }
  return Status::Ok();
}

Result<MergedKubeconfig> ReadKubeconfigs(const std::vector<std::string>& paths) {
  MergedKubeconfig merged;
  int read = 0;
  for (const auto& path : paths) {
    if (path.empty()) continue;
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;  // client-go ignores missing files in KUBECONFIG.
    YAML::Node doc;
    try {
      doc = YAML::LoadFile(path);
    } catch (const std::exception& e) {
      return Error::Invalid("kubeconfig " + path + ": " + e.what());
    }
    ++read;
    if (!doc || doc.IsNull()) continue;
    if (!doc.IsMap()) return Error::Invalid("kubeconfig " + path + ": not a mapping");
    const fs::path base_dir = fs::absolute(fs::path(path)).parent_path();
    if (merged.current_context.empty()) merged.current_context = Scalar(doc, "current-context");
    try {
      for (auto [list, field, into] : {std::tuple{"clusters", "cluster", &merged.clusters},
                                       std::tuple{"users", "user", &merged.users},
                                       std::tuple{"contexts", "context", &merged.contexts}}) {
        if (Status s = MergeNamed(doc[list], field, base_dir, path, *into); !s.ok())
          return s.error();
      }
    } catch (const YAML::Exception& e) {
      return Error::Invalid("kubeconfig " + path + ": " + e.what());
    }
  }
  if (read == 0) {
    std::string joined;
    for (const auto& p : paths) joined += (joined.empty() ? "" : ":") + p;
    return Error::NotFound("no kubeconfig file found at " + joined);
  }
  return merged;
}

// Reads "<field>-data" (base64) if set, else the file named by "<field>".
Result<std::string> DataOrFile(const Entry& entry, const std::string& field) {
  const std::string data = Scalar(entry.node, (field + "-data").c_str());
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded.ok()) return Error::Invalid(field + "-data: " + decoded.error().message);
    return decoded;
  }
  const std::string path = Scalar(entry.node, field.c_str());
  if (path.empty()) return std::string();
  auto content = ReadFile(Resolve(entry.base_dir, path));
  if (!content.ok()) return Error::Invalid(field + ": " + content.error().message);
  return content;
}

Result<ExecPluginConfig> ParseExec(const YAML::Node& exec, const std::string& user_name) {
  ExecPluginConfig plugin;
  plugin.user_name = user_name;
  plugin.api_version = Scalar(exec, "apiVersion");
  plugin.command = Scalar(exec, "command");
  plugin.install_hint = Scalar(exec, "installHint");
  if (plugin.command.empty()) {
    return Error::Invalid("user " + user_name + ": exec plugin has no command");
  }
  if (const auto args = exec["args"]; args && args.IsSequence()) {
    for (const auto& a : args) plugin.args.push_back(a.as<std::string>());
  }
  if (const auto env = exec["env"]; env && env.IsSequence()) {
    for (const auto& e : env) plugin.env.emplace_back(Scalar(e, "name"), Scalar(e, "value"));
  }
  return plugin;
}

Result<ClientConfig> BuildFromKubeconfig(const MergedKubeconfig& kc,
                                         const std::string& context_name, const std::string& files,
                                         const Clock& clock) {
  const std::string name = context_name.empty() ? kc.current_context : context_name;
  if (name.empty()) return Error::Invalid("kubeconfig " + files + ": no current-context set");
  const auto ctx_it = kc.contexts.find(name);
  if (ctx_it == kc.contexts.end()) {
    return Error::NotFound("kubeconfig " + files + ": context \"" + name + "\" not found");
  }
  const YAML::Node& ctx = ctx_it->second.node;
  const std::string cluster_name = Scalar(ctx, "cluster");
  const auto cluster_it = kc.clusters.find(cluster_name);
  if (cluster_it == kc.clusters.end()) {
    return Error::NotFound("kubeconfig " + files + ": cluster \"" + cluster_name +
                           "\" of context \"" + name + "\" not found");
  }
  ClientConfig config;
  config.description = "kubeconfig " + files + ", context " + name;
  const std::string ns = Scalar(ctx, "namespace");
  if (!ns.empty()) config.namespace_ = ns;

  const Entry& cluster = cluster_it->second;
  config.server = Scalar(cluster.node, "server");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.empty()) {
    return Error::Invalid("kubeconfig " + files + ": cluster \"" + cluster_name +
                          "\" has no server");
  }
  config.insecure_skip_tls_verify = Bool(cluster.node, "insecure-skip-tls-verify");
  config.tls_server_name = Scalar(cluster.node, "tls-server-name");
  auto ca = DataOrFile(cluster, "certificate-authority");
  if (!ca.ok()) return Error::Invalid("cluster \"" + cluster_name + "\": " + ca.error().message);
  config.ca_pem = std::move(ca.value());

  const std::string user_name = Scalar(ctx, "user");
  if (user_name.empty()) return config;  // Anonymous.
  const auto user_it = kc.users.find(user_name);
  if (user_it == kc.users.end()) {
    return Error::NotFound("kubeconfig " + files + ": user \"" + user_name + "\" of context \"" +
                           name + "\" not found");
  }
  const Entry& user = user_it->second;
  auto cert = DataOrFile(user, "client-certificate");
  if (!cert.ok()) return Error::Invalid("user \"" + user_name + "\": " + cert.error().message);
  auto key = DataOrFile(user, "client-key");
  if (!key.ok()) return Error::Invalid("user \"" + user_name + "\": " + key.error().message);
  config.client_certificate_pem = std::move(cert.value());
  config.client_key_pem = std::move(key.value());
  if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
    return Error::Invalid("user \"" + user_name +
                          "\": client-certificate and client-key must be set together");
  }

  const std::string token_file = Scalar(user.node, "tokenFile");
  const std::string token = Scalar(user.node, "token");
  if (!token_file.empty()) {
    config.token = std::make_shared<FileTokenSource>(Resolve(user.base_dir, token_file), clock);
  } else if (!token.empty()) {
    config.token = MakeStaticTokenSource(token);
  }
  if (const auto provider = user.node["auth-provider"]; provider) {
    return Error::Invalid("user \"" + user_name + "\": auth-provider \"" +
                          Scalar(provider, "name") +
                          "\" is not supported; use an exec credential plugin");
  }
  if (!Scalar(user.node, "username").empty() || !Scalar(user.node, "password").empty()) {
    return Error::Invalid("user \"" + user_name + "\": basic authentication is not supported");
  }
  if (const auto exec = user.node["exec"]; exec && exec.IsMap()) {
    auto plugin = ParseExec(exec, user_name);
    if (!plugin.ok()) return plugin.error();
    auto credential = RunExecPlugin(plugin.value());
    if (!credential.ok()) return credential.error();
    if (!credential->client_certificate_pem.empty()) {
      config.client_certificate_pem = credential->client_certificate_pem;
      config.client_key_pem = credential->client_key_pem;
    }
    if (!credential->token.empty()) {
      config.token =
          std::make_shared<ExecTokenSource>(std::move(plugin.value()), credential.value(), clock);
    }
  }
  return config;
}

std::vector<std::string> SplitPathList(const std::string& list) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(list);
  while (std::getline(in, item, ':')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// ------------------------------------------------------------ exec plugins

std::string PluginName(const ExecPluginConfig& plugin) {
  return "exec plugin \"" + plugin.command + "\" (user \"" + plugin.user_name + "\")";
}

Error PluginError(const ExecPluginConfig& plugin, const std::string& what) {
  std::string message = PluginName(plugin) + ": " + what;
  if (!plugin.install_hint.empty()) message += "; " + plugin.install_hint;
  return Unauthorized(std::move(message));
}

}  // namespace

// ------------------------------------------------------------ token sources

std::shared_ptr<TokenSource> MakeStaticTokenSource(std::string token) {
  return std::make_shared<StaticTokenSource>(std::move(token));
}

FileTokenSource::FileTokenSource(std::string path, const Clock& clock, std::chrono::seconds refresh)
    : path_(std::move(path)), clock_(clock), refresh_(refresh) {}

Result<std::string> FileTokenSource::Token() {
  std::lock_guard lock(mu_);
  const MonoTime now = clock_.Monotonic();
  if (has_token_ && now - read_at_ < refresh_) return token_;
  auto content = ReadFile(path_);
  std::string token = content.ok() ? Trim(std::move(content.value())) : "";
  if (token.empty()) {
    if (has_token_) return token_;  // Keep the last good token through a failed re-read.
    return Unauthorized("token file " + path_ +
                        (content.ok() ? " is empty" : ": " + content.error().message));
  }
  token_ = std::move(token);
  read_at_ = now;
  has_token_ = true;
  return token_;
}

ExecTokenSource::ExecTokenSource(ExecPluginConfig plugin, ExecCredential first, const Clock& clock)
    : plugin_(std::move(plugin)), clock_(clock), credential_(std::move(first)) {}

Result<std::string> ExecTokenSource::Token() {
  std::lock_guard lock(mu_);
  // Renew a little early so a token does not expire in flight.
  if (credential_.expiration &&
      clock_.Now() + std::chrono::seconds(10) >= *credential_.expiration) {
    auto fresh = RunExecPlugin(plugin_);
    if (!fresh.ok()) return fresh.error();
    if (fresh->token.empty()) return PluginError(plugin_, "returned no token");
    credential_ = std::move(fresh.value());
  }
  return credential_.token;
}

Result<ExecCredential> RunExecPlugin(const ExecPluginConfig& plugin, std::chrono::seconds timeout) {
  const std::string api_version =
      plugin.api_version.empty() ? "client.authentication.k8s.io/v1" : plugin.api_version;
  subprocess::RunOptions options;
  options.timeout = timeout;
  options.max_capture = kMaxExecPluginOutput;
  options.env = plugin.env;
  options.env.emplace_back("KUBERNETES_EXEC_INFO",
                           nlohmann::json{{"apiVersion", api_version},
                                          {"kind", "ExecCredential"},
                                          {"spec", {{"interactive", false}}}}
                               .dump());
  std::vector<std::string> argv{plugin.command};
  argv.insert(argv.end(), plugin.args.begin(), plugin.args.end());
  auto run = subprocess::Run(argv, options);
  if (!run.ok()) return PluginError(plugin, "cannot run: " + run.error().message);
  const subprocess::ProcessResult& result = run.value();
  if (result.timed_out) {
    return PluginError(plugin, "timed out after " + std::to_string(timeout.count()) + "s");
  }
  if (!result.Succeeded()) {
    std::string what = result.term_signal != 0 ? result.Summary()
                       : result.exit_code == 127
                           ? "command not found (exit 127)"
                           : "exited with status " + std::to_string(result.exit_code);
    if (!Trim(result.stderr_text).empty()) what += ": " + Trim(result.stderr_text);
    return PluginError(plugin, what);
  }
  if (result.truncated) {
    return PluginError(plugin, "wrote more than " + std::to_string(kMaxExecPluginOutput) +
                                   " bytes, which is not an ExecCredential");
  }
  const std::string& out = result.stdout_text;

  ExecCredential credential;
  try {
    const auto doc = nlohmann::json::parse(out);
    if (doc.value("kind", "") != "ExecCredential") {
      return PluginError(plugin, "output is not an ExecCredential");
    }
    const auto& status = doc.at("status");
    credential.token = status.value("token", "");
    credential.client_certificate_pem = status.value("clientCertificateData", "");
    credential.client_key_pem = status.value("clientKeyData", "");
    if (const auto exp = status.find("expirationTimestamp");
        exp != status.end() && exp->is_string()) {
      auto t = ParseRfc3339(exp->get<std::string>());
      if (!t.ok()) return PluginError(plugin, "bad expirationTimestamp: " + t.error().message);
      credential.expiration = t.value();
    }
  } catch (const nlohmann::json::exception& e) {
    return PluginError(plugin, std::string("cannot parse output: ") + e.what());
  }
  if (credential.token.empty() && credential.client_certificate_pem.empty()) {
    return PluginError(plugin, "returned neither a token nor a client certificate");
  }
  if (credential.client_certificate_pem.empty() != credential.client_key_pem.empty()) {
    return PluginError(plugin,
                       "returned clientCertificateData without clientKeyData or vice versa");
  }
  return credential;
}

// ------------------------------------------------------------ loaders

ConfigSources ConfigSources::FromEnvironment() {
  ConfigSources s;
  s.kubeconfig_env = Getenv("KUBECONFIG");
  s.home = Getenv("HOME");
  s.service_host = Getenv("KUBERNETES_SERVICE_HOST");
  s.service_port = Getenv("KUBERNETES_SERVICE_PORT");
  return s;
}

Result<ClientConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                    const std::string& context, const Clock& clock) {
  auto merged = ReadKubeconfigs(paths);
  if (!merged.ok()) return merged.error();
  std::string files;
  for (const auto& p : paths) files += (files.empty() ? "" : ":") + p;
  return BuildFromKubeconfig(merged.value(), context, files, clock);
}

Result<ClientConfig> LoadInClusterConfig(const ConfigSources& sources) {
  if (sources.service_host.empty() || sources.service_port.empty()) {
    return Error::NotFound(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set");
  }
  const fs::path dir(sources.service_account_dir);
  ClientConfig config;
  // An IPv6 service host must be bracketed in a URL.
  const bool ipv6 = sources.service_host.find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + sources.service_host + "]" : sources.service_host) +
                  ":" + sources.service_port;
  auto token_source = std::make_shared<FileTokenSource>((dir / "token").string(), *sources.clock);
  if (auto token = token_source->Token(); !token.ok()) return token.error();
  config.token = std::move(token_source);
  auto ca = ReadFile((dir / "ca.crt").string());
  if (!ca.ok()) return Error::Invalid("in-cluster CA: " + ca.error().message);
  config.ca_pem = std::move(ca.value());
  if (auto ns = ReadFile((dir / "namespace").string()); ns.ok() && !Trim(ns.value()).empty()) {
    config.namespace_ = Trim(std::move(ns.value()));
  }
  config.description = "in-cluster " + config.server;
  return config;
}

Result<ClientConfig> LoadClientConfig(const ConfigSources& sources) {
  if (!sources.explicit_path.empty()) {
    return LoadKubeconfig({sources.explicit_path}, sources.context, *sources.clock);
  }
  if (const auto paths = SplitPathList(sources.kubeconfig_env); !paths.empty()) {
    return LoadKubeconfig(paths, sources.context, *sources.clock);
  }
  if (!sources.service_host.empty()) return LoadInClusterConfig(sources);
  if (sources.home.empty()) {
    return Error::NotFound("no configuration: no --kubeconfig, $KUBECONFIG, in-cluster or $HOME");
  }
  return LoadKubeconfig({(fs::path(sources.home) / ".kube" / "config").string()}, sources.context,
                        *sources.clock);
}

Result<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return Error::Invalid("invalid base64 character");
    }
    if (padding > 0) return Error::Invalid("base64 data after padding");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6 || padding > 2) return Error::Invalid("truncated base64 data");
  return out;
}

}  // namespace nodeguard::kube

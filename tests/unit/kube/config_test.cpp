#include "kube/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/time.h"
#include "temp_dir.h"

namespace nodeguard::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string Base64(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) |
                       (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    out += std::string{alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
    out += std::string{alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
                       '='};
  }
  return out;
}

const char kCaPem[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const char kCertPem[] = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

std::string DataKubeconfig() {
  return R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )" +
         Base64(kCaPem) + R"(
    tls-server-name: kubernetes.default
- name: prod-cluster
  cluster:
    server: https://prod.example:443
    insecure-skip-tls-verify: true
users:
- name: dev-user
  user:
    client-certificate-data: )" +
         Base64(kCertPem) + R"(
    client-key-data: )" +
         Base64(kKeyPem) + R"(
- name: prod-user
  user:
    token: prod-token
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: team-a
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
)";
}

TEST(Base64Test, DecodesWithAndWithoutPadding) {
  for (std::string_view s : {"", "a", "ab", "abc", "abcd", "hello world\n"}) {
    auto padded = DecodeBase64(Base64(s));
    ASSERT_TRUE(padded.ok()) << s;
    EXPECT_EQ(padded.value(), s);
    std::string unpadded = Base64(s);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(DecodeBase64(unpadded).value(), s);
  }
  EXPECT_EQ(DecodeBase64("aGVs\nbG8=").value(), "hello");
  EXPECT_FALSE(DecodeBase64("aGVs*G8=").ok());
  EXPECT_FALSE(DecodeBase64("aGVsbG8=x").ok());
  EXPECT_FALSE(DecodeBase64("a").ok());
}

TEST(KubeconfigTest, CurrentContextWithInlineData) {
  TempDir dir;
  const auto path = dir.Write("config", DataKubeconfig());
  auto config = LoadKubeconfig({path});
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");  // Trailing slash dropped.
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->client_certificate_pem, kCertPem);
  EXPECT_EQ(config->client_key_pem, kKeyPem);
  EXPECT_EQ(config->tls_server_name, "kubernetes.default");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->namespace_, "team-a");
  EXPECT_EQ(config->token, nullptr);
  EXPECT_THAT(config->description, HasSubstr("context dev"));
}

TEST(KubeconfigTest, ContextOverrideSelectsTokenAndInsecure) {
  TempDir dir;
  auto config = LoadKubeconfig({dir.Write("config", DataKubeconfig())}, "prod");
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://prod.example:443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->namespace_, "default");
  ASSERT_NE(config->token, nullptr);
  EXPECT_EQ(config->token->Token().value(), "prod-token");
  EXPECT_TRUE(config->ca_pem.empty());
}

TEST(KubeconfigTest, FilePathsResolveRelativeToTheKubeconfig) {
  TempDir dir;
  dir.Write("pki/ca.crt", kCaPem);
  dir.Write("pki/client.crt", kCertPem);
  const auto key = dir.Write("abs/client.key", kKeyPem);
  const auto path = dir.Write("kube/config", R"(
current-context: c
clusters:
- name: k
  cluster:
    server: https://10.0.0.1
    certificate-authority: ../pki/ca.crt
users:
- name: u
  user:
    client-certificate: ../pki/client.crt
    client-key: )" + key + R"(
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  auto config = LoadKubeconfig({path});
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->client_certificate_pem, kCertPem);
  EXPECT_EQ(config->client_key_pem, kKeyPem);
}

TEST(KubeconfigTest, DataTakesPrecedenceOverFile) {
  TempDir dir;
  const auto path = dir.Write("config", R"(
current-context: c
clusters:
- name: k
  cluster:
    server: https://10.0.0.1
    certificate-authority: /nonexistent/ca.crt
    certificate-authority-data: )" + Base64(kCaPem) +
                                            R"(
contexts:
- name: c
  context: {cluster: k}
)");
  auto config = LoadKubeconfig({path});
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->ca_pem, kCaPem);
}

TEST(KubeconfigTest, ErrorsNameWhatIsMissing) {
  TempDir dir;
  auto missing_ctx = LoadKubeconfig({dir.Write("a", DataKubeconfig())}, "staging");
  ASSERT_FALSE(missing_ctx.ok());
  EXPECT_EQ(missing_ctx.error().kind, ErrorKind::kNotFound);
  EXPECT_THAT(missing_ctx.error().message, HasSubstr("context \"staging\""));

  auto missing_cluster = LoadKubeconfig({dir.Write("b", R"(
current-context: c
contexts:
- name: c
  context: {cluster: nowhere}
)")});
  ASSERT_FALSE(missing_cluster.ok());
  EXPECT_THAT(missing_cluster.error().message, HasSubstr("cluster \"nowhere\""));

  auto no_current = LoadKubeconfig({dir.Write("c", "clusters: []\n")});
  ASSERT_FALSE(no_current.ok());
  EXPECT_THAT(no_current.error().message, HasSubstr("no current-context"));

  auto missing_ca_file = LoadKubeconfig({dir.Write("d", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://x", certificate-authority: missing-ca.crt}
contexts:
- name: c
  context: {cluster: k}
)")});
  ASSERT_FALSE(missing_ca_file.ok());
  EXPECT_THAT(missing_ca_file.error().message, HasSubstr("missing-ca.crt"));

  auto no_file = LoadKubeconfig({(dir.path() / "absent").string()});
  ASSERT_FALSE(no_file.ok());
  EXPECT_EQ(no_file.error().kind, ErrorKind::kNotFound);

  auto malformed = LoadKubeconfig({dir.Write("e", "clusters: [unclosed\n")});
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().kind, ErrorKind::kInvalid);

  auto auth_provider = LoadKubeconfig({dir.Write("f", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://x"}
users:
- name: u
  user:
    auth-provider: {name: gcp}
contexts:
- name: c
  context: {cluster: k, user: u}
)")});
  ASSERT_FALSE(auth_provider.ok());
  EXPECT_THAT(auth_provider.error().message, HasSubstr("auth-provider \"gcp\""));

  auto half_cert = LoadKubeconfig({dir.Write("g", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://x"}
users:
- name: u
  user: {client-certificate-data: )" + Base64(kCertPem) +
                                                      R"(}
contexts:
- name: c
  context: {cluster: k, user: u}
)")});
  ASSERT_FALSE(half_cert.ok());
  EXPECT_THAT(half_cert.error().message, HasSubstr("must be set together"));
}

TEST(KubeconfigTest, MergesFilesFirstDefinitionWins) {
  TempDir dir;
  // The first file sets only current-context and a cluster; the second
  // defines the context, a cluster of the same name (ignored) and a user.
  const auto first = dir.Write("first", R"(
current-context: merged
clusters:
- name: k
  cluster: {server: "https://first:6443"}
)");
  const auto second = dir.Write("second", R"(
current-context: ignored
clusters:
- name: k
  cluster: {server: "https://second:6443"}
users:
- name: u
  user: {token: second-token}
contexts:
- name: merged
  context: {cluster: k, user: u, namespace: ns2}
- name: ignored
  context: {cluster: k}
)");
  const auto absent = (dir.path() / "absent").string();
  auto config = LoadKubeconfig({absent, first, second});
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://first:6443");
  EXPECT_EQ(config->namespace_, "ns2");
  EXPECT_EQ(config->token->Token().value(), "second-token");
}

TEST(TokenFileTest, ReReadsAfterRefreshInterval) {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.Write("token", "first\n");
  FileTokenSource source(path, clock, std::chrono::seconds(60));
  EXPECT_EQ(source.Token().value(), "first");
  dir.Write("token", "second");
  clock.Advance(std::chrono::seconds(59));
  EXPECT_EQ(source.Token().value(), "first");  // Cached.
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(source.Token().value(), "second");
  // A failed re-read keeps the last good token.
  std::filesystem::remove(path);
  clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(source.Token().value(), "second");
}

TEST(TokenFileTest, MissingOrEmptyFileIsUnauthorized) {
  TempDir dir;
  FakeClock clock;
  FileTokenSource missing((dir.path() / "none").string(), clock);
  ASSERT_FALSE(missing.Token().ok());
  EXPECT_EQ(missing.Token().error().kind, ErrorKind::kUnauthorized);
  FileTokenSource empty(dir.Write("empty", " \n"), clock);
  ASSERT_FALSE(empty.Token().ok());
  EXPECT_THAT(empty.Token().error().message, HasSubstr("empty"));
}

TEST(KubeconfigTest, TokenFileIsPreferredAndRelative) {
  TempDir dir;
  FakeClock clock;
  dir.Write("secrets/token", "from-file");
  const auto path = dir.Write("config", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://x"}
users:
- name: u
  user: {token: inline, tokenFile: secrets/token}
contexts:
- name: c
  context: {cluster: k, user: u}
)");
  auto config = LoadKubeconfig({path}, "", clock);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->token->Token().value(), "from-file");
}

class InClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("sa/token", "sa-token-1\n");
    dir_.Write("sa/ca.crt", kCaPem);
    dir_.Write("sa/namespace", "nodeguard-system");
    sources_.service_host = "10.96.0.1";
    sources_.service_port = "443";
    sources_.service_account_dir = (dir_.path() / "sa").string();
    sources_.clock = &clock_;
  }
  TempDir dir_;
  FakeClock clock_;
  ConfigSources sources_;
};

TEST_F(InClusterTest, ReadsServiceAccountAndRotatesToken) {
  auto config = LoadInClusterConfig(sources_);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_EQ(config->namespace_, "nodeguard-system");
  EXPECT_EQ(config->token->Token().value(), "sa-token-1");
  dir_.Write("sa/token", "sa-token-2");
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(config->token->Token().value(), "sa-token-2");
}

TEST_F(InClusterTest, BracketsIpv6Host) {
  sources_.service_host = "fd00::1";
  auto config = LoadInClusterConfig(sources_);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->server, "https://[fd00::1]:443");
}

TEST_F(InClusterTest, FailsWithoutEnvironmentOrToken) {
  ConfigSources no_env = sources_;
  no_env.service_host.clear();
  EXPECT_EQ(LoadInClusterConfig(no_env).error().kind, ErrorKind::kNotFound);
  std::filesystem::remove(dir_.path() / "sa/token");
  auto config = LoadInClusterConfig(sources_);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.error().message, HasSubstr("token"));
}

TEST_F(InClusterTest, PrecedenceExplicitThenEnvThenInClusterThenHome) {
  const auto explicit_path = dir_.Write("explicit", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://explicit"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  const auto env_path = dir_.Write("env", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://env"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  dir_.Write("home/.kube/config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://home"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  ConfigSources s = sources_;
  s.home = (dir_.path() / "home").string();
  s.explicit_path = explicit_path;
  s.kubeconfig_env = "/nonexistent:" + env_path;
  EXPECT_EQ(LoadClientConfig(s)->server, "https://explicit");
  s.explicit_path.clear();
  EXPECT_EQ(LoadClientConfig(s)->server, "https://env");
  s.kubeconfig_env.clear();
  EXPECT_EQ(LoadClientConfig(s)->server, "https://10.96.0.1:443");
  s.service_host.clear();
  EXPECT_EQ(LoadClientConfig(s)->server, "https://home");
  s.home.clear();
  EXPECT_FALSE(LoadClientConfig(s).ok());
}

// ------------------------------------------------------------ exec plugins

std::string ExecKubeconfig(const std::string& command, const std::string& extra = "") {
  return R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://x"}}]
users:
- name: exec-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: )" +
         command + R"(
      args: ["--cluster", "k"]
      env: [{name: PLUGIN_GREETING, value: hello}]
      installHint: "install it with: apt-get install my-plugin"
)" + extra +
         R"(
contexts: [{name: c, context: {cluster: k, user: exec-user}}]
)";
}

TEST(ExecPluginTest, TokenIsReturnedAndRenewedAfterExpiry) {
  TempDir dir;
  FakeClock clock;
  clock.SetWall(ParseRfc3339("2030-01-01T00:00:00Z").value());
  // Counts its runs in a file; checks args, env and KUBERNETES_EXEC_INFO.
  const auto counter = (dir.path() / "runs").string();
  const auto plugin = dir.Write("plugin.sh", R"(#!/bin/sh
[ "$1" = "--cluster" ] && [ "$2" = "k" ] || { echo "bad args" >&2; exit 2; }
[ "$PLUGIN_GREETING" = "hello" ] || { echo "bad env" >&2; exit 3; }
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 4;; esac
echo run >> )" + counter + R"(
n=$(wc -l < )" + counter + R"( | tr -d ' ')
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-'$n'","expirationTimestamp":"2030-01-01T01:00:00Z"}}'
)",
                                true);
  auto config = LoadKubeconfig({dir.Write("config", ExecKubeconfig(plugin))}, "", clock);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  ASSERT_NE(config->token, nullptr);
  EXPECT_EQ(config->token->Token().value(), "tok-1");
  clock.Advance(std::chrono::minutes(30));
  EXPECT_EQ(config->token->Token().value(), "tok-1");
  clock.Advance(std::chrono::minutes(30));
  EXPECT_EQ(config->token->Token().value(), "tok-2");
}

TEST(ExecPluginTest, ClientCertificateData) {
  TempDir dir;
  const auto plugin = dir.Write("plugin.sh", R"(#!/bin/sh
cat <<'EOF'
{"kind":"ExecCredential","status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}}
EOF
)",
                                true);
  auto config = LoadKubeconfig({dir.Write("config", ExecKubeconfig(plugin))});
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  EXPECT_EQ(config->client_certificate_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->token, nullptr);
}

TEST(ExecPluginTest, MissingCommandFailsNamingIt) {
  TempDir dir;
  auto config = LoadKubeconfig({dir.Write("config", ExecKubeconfig("no-such-plugin-xyz"))});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().kind, ErrorKind::kUnauthorized);
  EXPECT_THAT(config.error().message, HasSubstr("no-such-plugin-xyz"));
  EXPECT_THAT(config.error().message, HasSubstr("exec-user"));
  EXPECT_THAT(config.error().message, HasSubstr("apt-get install my-plugin"));
}

TEST(ExecPluginTest, FailureCarriesStderrAndBadOutputIsRejected) {
  TempDir dir;
  const auto failing = dir.Write("fail.sh", "#!/bin/sh\necho 'login required' >&2\nexit 1\n", true);
  auto config = LoadKubeconfig({dir.Write("config", ExecKubeconfig(failing))});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.error().message, HasSubstr("exited with status 1"));
  EXPECT_THAT(config.error().message, HasSubstr("login required"));

  const auto garbage = dir.Write("garbage.sh", "#!/bin/sh\necho not json\n", true);
  auto bad = LoadKubeconfig({dir.Write("config2", ExecKubeconfig(garbage))});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("cannot parse output"));

  const auto empty = dir.Write(
      "empty.sh", "#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"status\":{}}'\n", true);
  auto none = LoadKubeconfig({dir.Write("config3", ExecKubeconfig(empty))});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message, HasSubstr("neither a token nor"));
}

TEST(ExecPluginTest, HangingPluginTimesOut) {
  TempDir dir;
  ExecPluginConfig plugin;
  plugin.command = dir.Write("hang.sh", "#!/bin/sh\nexec sleep 30\n", true);
  plugin.user_name = "u";
  auto result = RunExecPlugin(plugin, std::chrono::seconds(1));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("timed out"));
}

}  // namespace
}  // namespace nodeguard::kube

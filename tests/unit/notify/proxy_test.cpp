#include "notify/proxy.h"

#include <gtest/gtest.h>

namespace nodeguard::notify {
namespace {

const ProxyEnvironment kEnv{"http://proxy.corp:3128", "http://plain.corp:8080",
                            "localhost, .svc,cluster.local ,10.0.0.7,hooks.internal:8443,"};

TEST(ProxyForTest, SchemePicksTheVariable) {
  EXPECT_EQ(ProxyFor("https://oapi.dingtalk.com/robot/send?access_token=x", kEnv),
            "http://proxy.corp:3128");
  EXPECT_EQ(ProxyFor("http://receiver.example/hook", kEnv), "http://plain.corp:8080");
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/x", {"", "http://plain.corp:8080", ""}), "");
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/x", {"proxy:3128", "", ""}), "http://proxy:3128");
  EXPECT_EQ(ProxyFor("not a url", kEnv), "");
}

TEST(ProxyForTest, NoProxyHostsDomainsPortsAndIps) {
  EXPECT_EQ(ProxyFor("https://localhost:9443/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://receiver.ns.svc/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://svc/x", kEnv), "");  // ".svc" also matches svc itself.
  EXPECT_EQ(ProxyFor("https://a.b.cluster.local/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://CLUSTER.LOCAL/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://notcluster.local/x", kEnv), "http://proxy.corp:3128");
  EXPECT_EQ(ProxyFor("https://10.0.0.7/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://10.0.0.70/x", kEnv), "http://proxy.corp:3128");
  EXPECT_EQ(ProxyFor("https://hooks.internal:8443/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://hooks.internal/x", kEnv), "http://proxy.corp:3128");  // Port 443.
  EXPECT_EQ(ProxyFor("https://user:pw@localhost/x", kEnv), "");
  EXPECT_EQ(ProxyFor("https://[::1]:8443/x", {"p:1", "", "::1"}), "");
  EXPECT_EQ(ProxyFor("https://anything/x", {"p:1", "", " * "}), "");
}

}  // namespace
}  // namespace nodeguard::notify

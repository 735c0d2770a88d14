#pragma once

// Which proxy an outbound webhook uses, from the environment as Go's
// net/http (httpproxy.FromEnvironment) reads it, so a cluster's existing
// proxy settings apply unchanged. Pure: the variables are passed in.
//   - https:// URLs use HTTPS_PROXY (or https_proxy), http:// URLs HTTP_PROXY
//     (or http_proxy); the upper-case name wins when both are set;
//   - NO_PROXY (or no_proxy): comma-separated; "*" bypasses every host; an
//     entry "example.com" or ".example.com" bypasses that host and its
//     subdomains; "host:port" only that port; an IP address only itself
//     (CIDR ranges are not supported);
//   - a proxy given without a scheme ("proxy:3128") is taken as http://.

#include <string>
#include <string_view>

namespace nodeguard::notify {

struct ProxyEnvironment {
  std::string https_proxy;
  std::string http_proxy;
  std::string no_proxy;

  static ProxyEnvironment FromProcess();  // Reads the variables above.
};

// The proxy URL for `url`, or "" for a direct connection.
std::string ProxyFor(std::string_view url, const ProxyEnvironment& env);

}  // namespace nodeguard::notify

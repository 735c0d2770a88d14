#include "notify/proxy.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace nodeguard::notify {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Env(const char* upper, const char* lower) {
  if (const char* v = std::getenv(upper); v != nullptr && *v != '\0') return v;
  if (const char* v = std::getenv(lower); v != nullptr) return v;
  return "";
}

// Splits "host:port" / "[v6]:port" into host and port ("" when absent).
void SplitHostPort(std::string_view authority, std::string& host, std::string& port) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    host = std::string(
        authority.substr(1, close == std::string_view::npos ? authority.npos : close - 1));
    if (close != std::string_view::npos && close + 1 < authority.size() &&
        authority[close + 1] == ':') {
      port = std::string(authority.substr(close + 2));
    }
    return;
  }
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(':') == colon) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  } else {
    host = std::string(authority);
  }
}

}  // namespace

ProxyEnvironment ProxyEnvironment::FromProcess() {
  return {Env("HTTPS_PROXY", "https_proxy"), Env("HTTP_PROXY", "http_proxy"),
          Env("NO_PROXY", "no_proxy")};
}

std::string ProxyFor(std::string_view url, const ProxyEnvironment& env) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  const std::string scheme = Lower(url.substr(0, scheme_end));
  std::string proxy = scheme == "https" ? env.https_proxy : env.http_proxy;
  if (Trim(proxy).empty()) return "";
  proxy = std::string(Trim(proxy));

  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  std::string host, port;
  SplitHostPort(authority, host, port);
  host = Lower(host);
  if (port.empty()) port = scheme == "https" ? "443" : "80";

  std::string_view list = env.no_proxy;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return "";
    std::string entry_host, entry_port;
    SplitHostPort(entry, entry_host, entry_port);
    entry_host = Lower(entry_host);
    if (!entry_port.empty() && entry_port != port) continue;
    if (entry_host.rfind("*.", 0) == 0) entry_host.erase(0, 1);
    if (!entry_host.empty() && entry_host.front() == '.') entry_host.erase(0, 1);
    if (entry_host.empty()) continue;
    if (host == entry_host) return "";
    if (host.size() > entry_host.size() &&
        host.compare(host.size() - entry_host.size(), entry_host.size(), entry_host) == 0 &&
        host[host.size() - entry_host.size() - 1] == '.') {
      return "";
    }
  }
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
  return proxy;
}

}  // namespace nodeguard::notify

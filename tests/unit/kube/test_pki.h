#pragma once

// An in-memory PKI for TLS tests: a CA and certificates it signs, as PEM.

#include <string>
#include <vector>

namespace nodeguard::kube::testing {

struct KeyPair {
  std::string certificate_pem;
  std::string key_pem;
};

class TestPki {
 public:
  explicit TestPki(const std::string& ca_name = "nodeguard-test-ca");

  const std::string& ca_pem() const { return ca_.certificate_pem; }

  // A server certificate for the given DNS names and IP addresses.
  KeyPair IssueServer(const std::vector<std::string>& dns_names,
                      const std::vector<std::string>& ips) const;
  // A client certificate: CN is the user, O the group, as the API server reads them.
  KeyPair IssueClient(const std::string& common_name, const std::string& organization) const;

 private:
  KeyPair ca_;
};

}  // namespace nodeguard::kube::testing

#pragma once

// The agent's HTTPS client to its own kubelet (--early-warning): a
// kube::HttpClient of its own, with its own trust anchor and token.

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "kube/http.h"

namespace nodeguard::agent {

// How the agent reaches and trusts its kubelet (docs/operations.md, agent flags).
struct KubeletClientOptions {
  std::string url = "https://127.0.0.1:10250";
  // The one trust anchor: the kubelet's own self-signed certificate (pinned;
  // default /var/lib/kubelet/pki/kubelet.crt) or, with serverTLSBootstrap,
  // the cluster CA. Empty with insecure: none.
  std::string ca_file = "/var/lib/kubelet/pki/kubelet.crt";
  // The name the certificate must carry (and the SNI): the node name, since
  // the self-signed certificate names only the node while the agent
  // connects to an address.
  std::string server_name;
  bool insecure_skip_tls_verify = false;
  // The projected service-account token, re-read every minute (it rotates).
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
};

// kInvalid when the URL is not https, the CA file cannot be read, or no
// server name is given while verifying.
Result<std::unique_ptr<kube::HttpClient>> MakeKubeletHttpClient(const KubeletClientOptions& options,
                                                                const Clock& clock);

}  // namespace nodeguard::agent

#include "agent/kubelet_client.h"

#include <fstream>
#include <sstream>

#include "kube/config.h"
#include "kube/transport_cpprest.h"

namespace nodeguard::agent {

Result<std::unique_ptr<kube::HttpClient>> MakeKubeletHttpClient(const KubeletClientOptions& o,
                                                                const Clock& clock) {
  if (o.url.rfind("https://", 0) != 0) {
    return Error::Invalid("--kubelet-url \"" + o.url + "\" is not an https URL");
  }
  kube::ClientConfig config;
  config.server = o.url;
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  config.insecure_skip_tls_verify = o.insecure_skip_tls_verify;
  if (!o.insecure_skip_tls_verify) {
    if (o.ca_file.empty()) {
      return Error::Invalid(
          "--kubelet-ca-file is empty (or set --kubelet-insecure-skip-tls-verify)");
    }
    std::ifstream in(o.ca_file);
    if (!in) return Error::Invalid("cannot read the kubelet's CA file " + o.ca_file);
    std::ostringstream pem;
    pem << in.rdbuf();
    config.ca_pem = pem.str();
    if (config.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Error::Invalid(o.ca_file + " holds no PEM certificate");
    }
    if (o.server_name.empty()) return Error::Invalid("no TLS server name for the kubelet");
    config.tls_server_name = o.server_name;
  }
  config.token = std::make_shared<kube::FileTokenSource>(o.token_file, clock);
  config.user_agent = "nodeguard-agent";
  config.description = "kubelet " + o.url;
  return kube::MakeCpprestHttpClient(config);
}

}  // namespace nodeguard::agent

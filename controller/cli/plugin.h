#pragma once

// `kubectl nodeguard`: the kubectl plugin mode of the nodeguard binary
// (docs/kubectl-plugin.md). main.cpp runs it when the binary is invoked as
// kubectl-nodeguard (a symlink on PATH: kubectl finds it as a plugin) or as
// `nodeguard kubectl ...`. The I/O around cli/view.h: loads the client
// configuration as kubectl does (--kubeconfig, $KUBECONFIG, --context),
// reads and writes through kube::RestClient, prints.

namespace nodeguard::cli {

// argv[0] is the program name shown in usage ("kubectl nodeguard").
// Returns the process exit code (view.h: kExitOk, kExitApiError, kExitUsage,
// kExitRefused).
int RunPlugin(int argc, char** argv);

}  // namespace nodeguard::cli

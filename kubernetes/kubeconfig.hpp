#pragma once

// A kubeconfig for one user of one cluster: pure text from PEMs, so it is golden-testable.
#include <string>
#include <string_view>

#include "pki.hpp"

namespace gpuhost::kubernetes {

struct KubeconfigRequest {
    std::string clusterName;
    std::string server;     // the API server's URL, e.g. https://10.0.0.5:6443
    std::string caCertPem;  // the cluster CA ("kubernetes"), which signed the API server's cert
    std::string userName;
    CertifiedKey client;  // a client certificate signed by that CA, and its key
};

/// The kubeconfig kubectl reads: one cluster, one user, one context "<user>@<cluster>" that is
/// the current context; certificates and key inline as base64 "-data" fields.
std::string renderKubeconfig(const KubeconfigRequest& request);

/// Standard base64 with padding and no line breaks (how kubeconfig "-data" fields carry PEMs).
std::string base64(std::string_view bytes);

}  // namespace gpuhost::kubernetes

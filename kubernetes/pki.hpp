#pragma once

// The cluster's PKI, owned by the agent (OpenSSL; no hand-written crypto): the three CAs and
// the service-account key pair that kubeadm would otherwise make on the control plane, so the
// agent can hand out kubeconfigs and the discovery hash; certificates it signs with them;
// bootstrap tokens. Generation draws from OpenSSL's CSPRNG; everything else is pure.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::kubernetes {

/// A certificate and its private key, PEM.
struct CertifiedKey {
    std::string certPem;
    std::string keyPem;

    bool operator==(const CertifiedKey&) const = default;
};

/// What kubeadm finds under /etc/kubernetes/pki when the agent made it: ca.{crt,key},
/// front-proxy-ca.{crt,key}, etcd/ca.{crt,key}, sa.{key,pub}.
struct ClusterPki {
    CertifiedKey ca;            // "kubernetes"
    CertifiedKey frontProxyCa;  // "front-proxy-ca"
    CertifiedKey etcdCa;        // "etcd-ca"
    std::string serviceAccountKeyPem;     // private key (sa.key)
    std::string serviceAccountPublicPem;  // its public key (sa.pub)

    bool operator==(const ClusterPki&) const = default;
};

/// Fresh CAs as kubeadm makes them (RSA 2048, self-signed, CA:TRUE, keyCertSign|digitalSignature|
/// keyEncipherment) valid for `caValidity`, and an RSA 2048 service-account key pair. Keys are
/// "RSA PRIVATE KEY" PEMs, sa.pub a "PUBLIC KEY" PEM. InvalidArgument for a validity outside
/// 1 hour..100 years; Internal when OpenSSL fails.
model::Result<ClusterPki> generateClusterPki(std::chrono::hours caValidity);

/// The PKI as one JSON document (what the store keeps as the cluster's secret) and back;
/// parsing checks every PEM (InvalidArgument naming the member when one is bad).
std::string serializePki(const ClusterPki& pki);
model::Result<ClusterPki> parsePki(std::string_view json);

/// A certificate to sign with a CA.
struct CertificateRequest {
    std::string commonName;
    std::vector<std::string> organizations;  // subject O= (Kubernetes groups)
    bool client = true;                      // extKeyUsage clientAuth (else serverAuth)
    std::vector<std::string> ipSans;
    std::vector<std::string> dnsSans;
    std::chrono::hours validity{24 * 365};
};

/// A new RSA 2048 key and a certificate for it signed (SHA-256) by `ca`: CA:FALSE,
/// digitalSignature|keyEncipherment, clientAuth or serverAuth. InvalidArgument naming the field
/// ("ca.certPem", "ca.keyPem", "commonName", "organizations", "ipSans", "dnsSans", "validity").
model::Result<CertifiedKey> issueCertificate(const CertifiedKey& ca, const CertificateRequest& request);

/// kubeadm's discovery hash of a CA: "sha256:" + hex SHA-256 of its SubjectPublicKeyInfo (DER).
model::Result<std::string> caCertHash(std::string_view caCertPem);

/// A kubeadm bootstrap token "[a-z0-9]{6}.[a-z0-9]{16}" from the CSPRNG.
model::Result<std::string> newBootstrapToken();
/// Whether `token` has the bootstrap token's shape.
bool isBootstrapToken(std::string_view token);

}  // namespace gpuhost::kubernetes

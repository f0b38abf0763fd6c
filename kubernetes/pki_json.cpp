#include <openssl/err.h>
#include <nlohmann/json.hpp>

#include <utility>

#include "openssl_objects.hpp"
#include "pki.hpp"

namespace gpuhost::kubernetes {

using model::Error;
using model::Result;

namespace {

// The JSON members, one per PEM; the same names serializePki writes and parsePki reads.
constexpr const char* kCaCert = "caCert";
constexpr const char* kCaKey = "caKey";
constexpr const char* kFrontProxyCaCert = "frontProxyCaCert";
constexpr const char* kFrontProxyCaKey = "frontProxyCaKey";
constexpr const char* kEtcdCaCert = "etcdCaCert";
constexpr const char* kEtcdCaKey = "etcdCaKey";
constexpr const char* kServiceAccountKey = "serviceAccountKey";
constexpr const char* kServiceAccountPublicKey = "serviceAccountPublicKey";

Result<std::string> stringMember(const nlohmann::json& document, const char* name) {
    auto member = document.find(name);
    if (member == document.end() || !member->is_string()) {
        return Error::invalid(name, "must be a string");
    }
    return member->get<std::string>();
}

// A CA whose key is not its own, or that is no CA, would sign certificates nothing accepts.
Result<CertifiedKey> checkedCa(const nlohmann::json& document, const char* certName, const char* keyName) {
    auto certPem = stringMember(document, certName);
    auto keyPem = stringMember(document, keyName);
    if (!certPem || !keyPem) {
        return !certPem ? certPem.error() : keyPem.error();
    }
    ossl::Cert cert = ossl::readCertificate(*certPem);
    if (!cert) {
        return Error::invalid(certName, "is not a PEM certificate");
    }
    if (X509_check_ca(cert.get()) == 0) {
        return Error::invalid(certName, "is not a CA certificate");
    }
    ossl::Key key = ossl::readPrivateKey(*keyPem);
    if (!key) {
        return Error::invalid(keyName, "is not a PEM private key");
    }
    bool matches = X509_check_private_key(cert.get(), key.get()) == 1;
    ERR_clear_error();
    if (!matches) {
        return Error::invalid(keyName, std::string("does not belong to ") + certName);
    }
    return CertifiedKey{std::move(*certPem), std::move(*keyPem)};
}

Result<std::pair<std::string, std::string>> checkedServiceAccount(const nlohmann::json& document) {
    auto privatePem = stringMember(document, kServiceAccountKey);
    auto publicPem = stringMember(document, kServiceAccountPublicKey);
    if (!privatePem || !publicPem) {
        return !privatePem ? privatePem.error() : publicPem.error();
    }
    ossl::Key privateKey = ossl::readPrivateKey(*privatePem);
    if (!privateKey) {
        return Error::invalid(kServiceAccountKey, "is not a PEM private key");
    }
    ossl::Key publicKey = ossl::readPublicKey(*publicPem);
    if (!publicKey) {
        return Error::invalid(kServiceAccountPublicKey, "is not a PEM public key");
    }
    bool matches = EVP_PKEY_eq(privateKey.get(), publicKey.get()) == 1;
    ERR_clear_error();
    if (!matches) {
        return Error::invalid(kServiceAccountPublicKey,
                              std::string("does not belong to ") + kServiceAccountKey);
    }
    return std::pair{std::move(*privatePem), std::move(*publicPem)};
}

}  // namespace

std::string serializePki(const ClusterPki& pki) {
    nlohmann::json document = {
        {kCaCert, pki.ca.certPem},
        {kCaKey, pki.ca.keyPem},
        {kFrontProxyCaCert, pki.frontProxyCa.certPem},
        {kFrontProxyCaKey, pki.frontProxyCa.keyPem},
        {kEtcdCaCert, pki.etcdCa.certPem},
        {kEtcdCaKey, pki.etcdCa.keyPem},
        {kServiceAccountKey, pki.serviceAccountKeyPem},
        {kServiceAccountPublicKey, pki.serviceAccountPublicPem},
    };
    return document.dump();
}

Result<ClusterPki> parsePki(std::string_view json) {
    auto document = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return Error::invalid("pki", "is not a JSON object");
    }
    auto ca = checkedCa(document, kCaCert, kCaKey);
    if (!ca) {
        return ca.error();
    }
    auto frontProxyCa = checkedCa(document, kFrontProxyCaCert, kFrontProxyCaKey);
    if (!frontProxyCa) {
        return frontProxyCa.error();
    }
    auto etcdCa = checkedCa(document, kEtcdCaCert, kEtcdCaKey);
    if (!etcdCa) {
        return etcdCa.error();
    }
    auto serviceAccount = checkedServiceAccount(document);
    if (!serviceAccount) {
        return serviceAccount.error();
    }
    return ClusterPki{std::move(*ca), std::move(*frontProxyCa), std::move(*etcdCa),
                      std::move(serviceAccount->first), std::move(serviceAccount->second)};
}

}  // namespace gpuhost::kubernetes

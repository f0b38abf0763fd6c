// What `kubeadm join` is given: a bootstrap token and the discovery hash of the cluster CA.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>

#include "openssl_objects.hpp"
#include "pki.hpp"

namespace gpuhost::kubernetes {

using model::Error;
using model::Result;

namespace {

constexpr std::string_view kTokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::size_t kTokenIdLength = 6;
constexpr std::size_t kTokenSecretLength = 16;

bool isTokenCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

Result<std::string> caCertHash(std::string_view caCertPem) {
    ossl::Cert cert = ossl::readCertificate(caCertPem);
    if (!cert) {
        return Error::invalid("caCertPem", "is not a PEM certificate");
    }
    // kubeadm hashes the DER SubjectPublicKeyInfo, not the whole certificate.
    unsigned char* der = nullptr;
    int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
    if (length <= 0) {
        return Error::internal("i2d_X509_PUBKEY failed: " + ossl::lastError());
    }
    ossl::Bytes owned(der);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestLength = 0;
    if (EVP_Digest(der, static_cast<std::size_t>(length), digest, &digestLength, EVP_sha256(), nullptr) !=
        1) {
        return Error::internal("SHA-256 failed: " + ossl::lastError());
    }
    std::string hash = "sha256:";
    char hex[3];
    for (unsigned i = 0; i < digestLength; ++i) {
        std::snprintf(hex, sizeof(hex), "%02x", digest[i]);
        hash += hex;
    }
    return hash;
}

Result<std::string> newBootstrapToken() {
    // Rejection sampling: a byte below 252 (7 × 36) maps to the alphabet without bias.
    constexpr unsigned kUnbiasedLimit = 256 / kTokenAlphabet.size() * kTokenAlphabet.size();
    std::string characters;
    unsigned char random[64];
    while (characters.size() < kTokenIdLength + kTokenSecretLength) {
        if (RAND_bytes(random, sizeof(random)) != 1) {
            return Error::internal("RAND_bytes failed: no bootstrap token");
        }
        for (unsigned char byte : random) {
            if (byte < kUnbiasedLimit && characters.size() < kTokenIdLength + kTokenSecretLength) {
                characters += kTokenAlphabet[byte % kTokenAlphabet.size()];
            }
        }
    }
    return characters.substr(0, kTokenIdLength) + "." + characters.substr(kTokenIdLength);
}

bool isBootstrapToken(std::string_view token) {
    // ^[a-z0-9]{6}\.[a-z0-9]{16}$, as kubeadm's BootstrapTokenPattern.
    if (token.size() != kTokenIdLength + 1 + kTokenSecretLength || token[kTokenIdLength] != '.') {
        return false;
    }
    for (std::size_t i = 0; i < token.size(); ++i) {
        if (i != kTokenIdLength && !isTokenCharacter(token[i])) {
            return false;
        }
    }
    return true;
}

}  // namespace gpuhost::kubernetes

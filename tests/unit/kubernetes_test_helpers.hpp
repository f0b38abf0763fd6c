#pragma once

// The Kubernetes tests' helpers: requests by role, and OpenSSL checks that look at what the
// library made without using the library's code, so a shared mistake cannot hide.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pki.hpp"

namespace gpuhost::test {

// Built field by field: GCC 12 warns about designated initializers that leave members out.
inline kubernetes::CertificateRequest clientRequest(std::string commonName,
                                                    std::vector<std::string> organizations = {}) {
    kubernetes::CertificateRequest request;
    request.commonName = std::move(commonName);
    request.organizations = std::move(organizations);
    return request;
}

inline kubernetes::CertificateRequest serverRequest(std::string commonName, std::vector<std::string> ipSans,
                                                    std::vector<std::string> dnsSans = {}) {
    kubernetes::CertificateRequest request;
    request.commonName = std::move(commonName);
    request.client = false;
    request.ipSans = std::move(ipSans);
    request.dnsSans = std::move(dnsSans);
    return request;
}

struct X509Free {
    void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

inline CertPtr pemCert(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    CertPtr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    return cert;
}

inline KeyPtr pemKey(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    KeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    return key;
}

/// Whether `leafPem` chains to `caPem` (the only trusted certificate) for `purpose`
/// (X509_PURPOSE_SSL_CLIENT or X509_PURPOSE_SSL_SERVER).
inline bool chainsTo(std::string_view leafPem, std::string_view caPem, int purpose) {
    CertPtr leaf = pemCert(leafPem);
    CertPtr ca = pemCert(caPem);
    if (!leaf || !ca) {
        return false;
    }
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                            X509_STORE_CTX_free);
    X509_STORE_add_cert(store.get(), ca.get());
    X509_STORE_CTX_init(context.get(), store.get(), leaf.get(), nullptr);
    X509_STORE_CTX_set_purpose(context.get(), purpose);
    return X509_verify_cert(context.get()) == 1;
}

/// A subject's entries of one kind (NID_commonName, NID_organizationName) in order.
inline std::vector<std::string> subjectEntries(X509* cert, int nid) {
    std::vector<std::string> entries;
    X509_NAME* name = X509_get_subject_name(cert);
    for (int at = X509_NAME_get_index_by_NID(name, nid, -1); at >= 0;
         at = X509_NAME_get_index_by_NID(name, nid, at)) {
        ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
        entries.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                             static_cast<std::size_t>(ASN1_STRING_length(value)));
    }
    return entries;
}

/// Standard base64 back to bytes, padding honoured (EVP_DecodeBlock counts it as zero bytes).
inline std::string unbase64(const std::string& text) {
    std::string out(text.size() / 4 * 3, '\0');
    int written =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (written < 0) {
        return {};
    }
    std::size_t padding = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
    out.resize(static_cast<std::size_t>(written) - padding);
    return out;
}

}  // namespace gpuhost::test

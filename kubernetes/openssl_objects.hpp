#pragma once

// Internal to gpuhost_kubernetes: every OpenSSL object it touches owned by a unique_ptr, and the
// few PEM conversions the PKI needs. Nothing here is part of the library's interface.
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "model/error.hpp"

namespace gpuhost::kubernetes::ossl {

template <auto Free>
struct Deleter {
    template <class T>
    void operator()(T* object) const {
        Free(object);
    }
};

using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Name = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNames = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralName = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using OctetString = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;
using Ia5String = std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING_free>>;
using Integer = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using BigNum = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

/// Bytes OpenSSL allocated for the caller (what i2d_* returns).
struct FreeBytes {
    void operator()(unsigned char* bytes) const { OPENSSL_free(bytes); }
};
using Bytes = std::unique_ptr<unsigned char, FreeBytes>;

/// The oldest error on OpenSSL's queue as text (and the queue cleared), for Internal errors.
std::string lastError();

/// A fresh RSA 2048 key (kubeadm's default key type and size).
model::Result<Key> newRsaKey();

/// PEM text → objects; nullptr when the text holds no such PEM block (queue cleared).
Cert readCertificate(std::string_view pem);
Key readPrivateKey(std::string_view pem);
Key readPublicKey(std::string_view pem);

/// Objects → PEM text: certificates "CERTIFICATE", private keys in the traditional form kubeadm
/// writes ("RSA PRIVATE KEY"), public keys "PUBLIC KEY". Internal when OpenSSL fails.
model::Result<std::string> certificatePem(X509* cert);
model::Result<std::string> privateKeyPem(EVP_PKEY* key);
model::Result<std::string> publicKeyPem(EVP_PKEY* key);

}  // namespace gpuhost::kubernetes::ossl

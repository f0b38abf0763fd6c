#include "openssl_objects.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <limits>

namespace gpuhost::kubernetes::ossl {

using model::Error;
using model::Result;

std::string lastError() {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown OpenSSL error";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    return text;
}

Result<Key> newRsaKey() {
    Key key(EVP_RSA_gen(2048));
    if (!key) {
        return Error::internal("RSA key generation failed: " + lastError());
    }
    return key;
}

namespace {

Bio memoryFrom(std::string_view text) {
    if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return nullptr;
    }
    return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Reads with `read` from a BIO over `pem`; the error queue is left empty either way, so a bad
// PEM here does not show up as the cause of a later, unrelated failure.
template <class Handle, class Read>
Handle readWith(std::string_view pem, Read read) {
    Bio bio = memoryFrom(pem);
    Handle object(bio ? read(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    ERR_clear_error();
    return object;
}

template <class Write>
Result<std::string> writeWith(Write write) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || write(bio.get()) != 1) {
        return Error::internal("PEM encoding failed: " + lastError());
    }
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

Cert readCertificate(std::string_view pem) {
    return readWith<Cert>(pem, PEM_read_bio_X509);
}

Key readPrivateKey(std::string_view pem) {
    return readWith<Key>(pem, PEM_read_bio_PrivateKey);
}

Key readPublicKey(std::string_view pem) {
    return readWith<Key>(pem, PEM_read_bio_PUBKEY);
}

Result<std::string> certificatePem(X509* cert) {
    return writeWith([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

Result<std::string> privateKeyPem(EVP_PKEY* key) {
    return writeWith([key](BIO* bio) {
        return PEM_write_bio_PrivateKey_traditional(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
}

Result<std::string> publicKeyPem(EVP_PKEY* key) {
    return writeWith([key](BIO* bio) { return PEM_write_bio_PUBKEY(bio, key); });
}

}  // namespace gpuhost::kubernetes::ossl

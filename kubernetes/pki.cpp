#include "pki.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <cctype>
#include <limits>

#include "openssl_objects.hpp"

namespace gpuhost::kubernetes {

using model::Error;
using model::Result;
using namespace ossl;

namespace {

// A host whose clock runs a little behind the agent's must already accept a fresh certificate.
constexpr long kClockSkewSeconds = 5 * 60;
// Beyond this X509_time_adj_ex's day count would overflow; nothing needs a longer life.
constexpr std::chrono::hours kLongestValidity{24 * 365 * 100};
// RFC 5280's upper bounds for CN and O.
constexpr std::size_t kLongestNameEntry = 64;

Result<Integer> randomSerial() {
    unsigned char bytes[16];
    for (;;) {
        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
            return Error::internal("RAND_bytes failed: no serial number");
        }
        bytes[0] &= 0x7f;  // positive: DER needs no extra leading zero, so it stays 16 octets
        BigNum number(BN_bin2bn(bytes, sizeof(bytes), nullptr));
        if (!number) {
            return Error::internal("BN_bin2bn failed: " + lastError());
        }
        if (BN_is_zero(number.get())) {
            continue;  // RFC 5280 wants a positive serial
        }
        Integer serial(BN_to_ASN1_INTEGER(number.get(), nullptr));
        if (!serial) {
            return Error::internal("BN_to_ASN1_INTEGER failed: " + lastError());
        }
        return serial;
    }
}

Result<void> checkValidity(const std::string& field, std::chrono::hours validity) {
    if (validity.count() <= 0 || validity > kLongestValidity) {
        return Error::invalid(field, "must be between 1 hour and 100 years");
    }
    return {};
}

// CN and O go into the certificate as UTF-8 strings; control characters never do.
Result<void> checkNameText(const std::string& field, const std::string& text) {
    if (text.empty() || text.size() > kLongestNameEntry) {
        return Error::invalid(field, "must be 1 to 64 bytes");
    }
    for (char c : text) {
        if (std::iscntrl(static_cast<unsigned char>(c))) {
            return Error::invalid(field, "must not contain control characters");
        }
    }
    return {};
}

bool addNameEntry(X509_NAME* name, int nid, const std::string& text) {
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()), -1, 0) == 1;
}

// Organizations first, then the common name: the order Go's pkix.Name (kubeadm) writes.
Result<Name> subjectName(const std::string& commonName, const std::vector<std::string>& organizations) {
    if (auto checked = checkNameText("commonName", commonName); !checked) {
        return checked.error();
    }
    Name name(X509_NAME_new());
    if (!name) {
        return Error::internal("X509_NAME_new failed");
    }
    for (const auto& organization : organizations) {
        if (auto checked = checkNameText("organizations", organization); !checked) {
            return checked.error();
        }
        if (!addNameEntry(name.get(), NID_organizationName, organization)) {
            ERR_clear_error();
            return Error::invalid("organizations", "must be valid UTF-8");
        }
    }
    if (!addNameEntry(name.get(), NID_commonName, commonName)) {
        ERR_clear_error();
        return Error::invalid("commonName", "must be valid UTF-8");
    }
    return name;
}

// Version 3, a random serial, subject and key, valid from a little before now for `validity`.
Result<Cert> newCertificate(X509_NAME* subject, EVP_PKEY* key, std::chrono::hours validity) {
    Cert cert(X509_new());
    auto serial = randomSerial();
    if (!serial) {
        return serial.error();
    }
    long days = static_cast<long>(validity.count() / 24);
    long seconds = static_cast<long>(validity.count() % 24) * 3600;
    bool built =
        cert && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
        X509_set_serialNumber(cert.get(), serial->get()) == 1 &&
        X509_set_subject_name(cert.get(), subject) == 1 && X509_set_pubkey(cert.get(), key) == 1 &&
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kClockSkewSeconds) != nullptr &&
        X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), seconds, nullptr) != nullptr;
    if (!built) {
        return Error::internal("building a certificate failed: " + lastError());
    }
    return cert;
}

// Only fixed texts reach OpenSSL's config syntax here; names and SANs are built as objects.
bool addExtension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
    Extension extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
    return extension && X509_add_ext(cert, extension.get(), -1) == 1;
}

Result<std::string> signedPem(X509* cert, EVP_PKEY* signer) {
    if (X509_sign(cert, signer, EVP_sha256()) <= 0) {
        return Error::internal("signing a certificate failed: " + lastError());
    }
    return certificatePem(cert);
}

Result<CertifiedKey> newCa(const std::string& commonName, std::chrono::hours validity) {
    auto key = newRsaKey();
    auto subject = subjectName(commonName, {});
    if (!key || !subject) {
        return !key ? key.error() : subject.error();
    }
    auto cert = newCertificate(subject->get(), key->get(), validity);
    if (!cert) {
        return cert.error();
    }
    X509* raw = cert->get();
    X509V3_CTX context;
    X509V3_set_ctx(&context, raw, raw, nullptr, nullptr, 0);
    // kubeadm's CA: CA:TRUE, digitalSignature|keyEncipherment|keyCertSign. The subject key
    // identifier goes first: the authority key identifier of a self-signed cert copies it.
    bool extended =
        X509_set_issuer_name(raw, subject->get()) == 1 &&
        addExtension(raw, &context, NID_basic_constraints, "critical,CA:TRUE") &&
        addExtension(raw, &context, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign") &&
        addExtension(raw, &context, NID_subject_key_identifier, "hash") &&
        addExtension(raw, &context, NID_authority_key_identifier, "keyid:always");
    if (!extended) {
        return Error::internal("CA extensions failed: " + lastError());
    }
    auto certPem = signedPem(raw, key->get());
    auto keyPem = privateKeyPem(key->get());
    if (!certPem || !keyPem) {
        return !certPem ? certPem.error() : keyPem.error();
    }
    return CertifiedKey{std::move(*certPem), std::move(*keyPem)};
}

bool isIpAddress(const std::string& text, unsigned char (&bytes)[16], int& length) {
    if (text.find('\0') != std::string::npos) {
        return false;
    }
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        length = 4;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
        length = 16;
        return true;
    }
    return false;
}

// RFC 1123 labels, with a leading "*." allowed (a wildcard SAN).
bool isDnsName(std::string_view name) {
    if (name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t labelLength = 0;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c == '.') {
            if (labelLength == 0 || name[i - 1] == '-') {
                return false;
            }
            labelLength = 0;
            continue;
        }
        bool alphanumeric = std::isalnum(static_cast<unsigned char>(c)) != 0;
        if ((!alphanumeric && c != '-') || (c == '-' && labelLength == 0) || ++labelLength > 63) {
            return false;
        }
    }
    return labelLength > 0 && name.back() != '-';
}

bool pushName(GENERAL_NAMES* names, int type, void* value) {
    GeneralName name(GENERAL_NAME_new());
    if (!name) {
        return false;
    }
    GENERAL_NAME_set0_value(name.get(), type, value);
    if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
        GENERAL_NAME_set0_value(name.get(), type, nullptr);  // the caller still owns `value`
        return false;
    }
    name.release();
    return true;
}

Result<GeneralNames> subjectAltNames(const CertificateRequest& request) {
    GeneralNames names(sk_GENERAL_NAME_new_null());
    if (!names) {
        return Error::internal("sk_GENERAL_NAME_new_null failed");
    }
    for (std::size_t i = 0; i < request.ipSans.size(); ++i) {
        unsigned char bytes[16];
        int length = 0;
        if (!isIpAddress(request.ipSans[i], bytes, length)) {
            return Error::invalid("ipSans", "entry " + std::to_string(i) + " is not an IPv4 or IPv6 address");
        }
        OctetString address(ASN1_OCTET_STRING_new());
        if (!address || ASN1_OCTET_STRING_set(address.get(), bytes, length) != 1 ||
            !pushName(names.get(), GEN_IPADD, address.get())) {
            return Error::internal("building an IP SAN failed: " + lastError());
        }
        address.release();
    }
    for (std::size_t i = 0; i < request.dnsSans.size(); ++i) {
        const std::string& dns = request.dnsSans[i];
        if (!isDnsName(dns)) {
            return Error::invalid("dnsSans", "entry " + std::to_string(i) + " is not a DNS name");
        }
        Ia5String text(ASN1_IA5STRING_new());
        if (!text || ASN1_STRING_set(text.get(), dns.data(), static_cast<int>(dns.size())) != 1 ||
            !pushName(names.get(), GEN_DNS, text.get())) {
            return Error::internal("building a DNS SAN failed: " + lastError());
        }
        text.release();
    }
    return names;
}

struct CheckedCa {
    Cert cert;
    Key key;
};

Result<CheckedCa> checkedCa(const CertifiedKey& ca) {
    CheckedCa checked{readCertificate(ca.certPem), readPrivateKey(ca.keyPem)};
    if (!checked.cert) {
        return Error::invalid("ca.certPem", "is not a PEM certificate");
    }
    if (!checked.key) {
        return Error::invalid("ca.keyPem", "is not a PEM private key");
    }
    bool matches = X509_check_private_key(checked.cert.get(), checked.key.get()) == 1;
    ERR_clear_error();
    if (!matches) {
        return Error::invalid("ca.keyPem", "does not belong to ca.certPem");
    }
    if (X509_check_ca(checked.cert.get()) == 0) {
        return Error::invalid("ca.certPem", "is not a CA certificate");
    }
    return checked;
}

}  // namespace

Result<ClusterPki> generateClusterPki(std::chrono::hours caValidity) {
    if (auto valid = checkValidity("caValidity", caValidity); !valid) {
        return valid.error();
    }
    ClusterPki pki;
    // The common names kubeadm gives its CAs.
    for (auto [commonName, ca] :
         {std::pair{"kubernetes", &pki.ca}, std::pair{"front-proxy-ca", &pki.frontProxyCa},
          std::pair{"etcd-ca", &pki.etcdCa}}) {
        auto made = newCa(commonName, caValidity);
        if (!made) {
            return made.error();
        }
        *ca = std::move(*made);
    }
    auto serviceAccountKey = newRsaKey();
    if (!serviceAccountKey) {
        return serviceAccountKey.error();
    }
    auto privatePem = privateKeyPem(serviceAccountKey->get());
    auto publicPem = publicKeyPem(serviceAccountKey->get());
    if (!privatePem || !publicPem) {
        return !privatePem ? privatePem.error() : publicPem.error();
    }
    pki.serviceAccountKeyPem = std::move(*privatePem);
    pki.serviceAccountPublicPem = std::move(*publicPem);
    return pki;
}

Result<CertifiedKey> issueCertificate(const CertifiedKey& ca, const CertificateRequest& request) {
    auto signer = checkedCa(ca);
    if (!signer) {
        return signer.error();
    }
    if (auto valid = checkValidity("validity", request.validity); !valid) {
        return valid.error();
    }
    auto subject = subjectName(request.commonName, request.organizations);
    if (!subject) {
        return subject.error();
    }
    auto sans = subjectAltNames(request);
    if (!sans) {
        return sans.error();
    }
    auto key = newRsaKey();
    if (!key) {
        return key.error();
    }
    auto cert = newCertificate(subject->get(), key->get(), request.validity);
    if (!cert) {
        return cert.error();
    }
    X509* raw = cert->get();
    X509V3_CTX context;
    X509V3_set_ctx(&context, signer->cert.get(), raw, nullptr, nullptr, 0);
    bool extended =
        X509_set_issuer_name(raw, X509_get_subject_name(signer->cert.get())) == 1 &&
        addExtension(raw, &context, NID_basic_constraints, "critical,CA:FALSE") &&
        addExtension(raw, &context, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
        addExtension(raw, &context, NID_ext_key_usage, request.client ? "clientAuth" : "serverAuth") &&
        addExtension(raw, &context, NID_subject_key_identifier, "hash") &&
        addExtension(raw, &context, NID_authority_key_identifier, "keyid,issuer") &&
        (sk_GENERAL_NAME_num(sans->get()) == 0 ||
         X509_add1_ext_i2d(raw, NID_subject_alt_name, sans->get(), 0, X509V3_ADD_DEFAULT) == 1);
    if (!extended) {
        return Error::internal("certificate extensions failed: " + lastError());
    }
    auto certPem = signedPem(raw, signer->key.get());
    auto keyPem = privateKeyPem(key->get());
    if (!certPem || !keyPem) {
        return !certPem ? certPem.error() : keyPem.error();
    }
    return CertifiedKey{std::move(*certPem), std::move(*keyPem)};
}

}  // namespace gpuhost::kubernetes

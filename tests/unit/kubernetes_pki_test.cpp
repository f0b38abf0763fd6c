#include <doctest/doctest.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include "pki.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include "unit/kubernetes_test_helpers.hpp"

using namespace gpuhost;
using kubernetes::CertificateRequest;
using kubernetes::CertifiedKey;
using kubernetes::ClusterPki;
using model::ErrorCode;
using test::chainsTo;
using test::clientRequest;
using test::pemCert;
using test::pemKey;
using test::serverRequest;

namespace {

constexpr std::chrono::hours kTenYears{24 * 3650};

ClusterPki newPki() {
    auto pki = kubernetes::generateClusterPki(kTenYears);
    REQUIRE_MESSAGE(pki.ok(), pki.error().message);
    return *pki;
}

CertifiedKey issued(const CertifiedKey& ca, const CertificateRequest& request) {
    auto cert = kubernetes::issueCertificate(ca, request);
    REQUIRE_MESSAGE(cert.ok(), cert.error().message);
    return *cert;
}

bool criticalExtension(X509* cert, int nid) {
    int at = X509_get_ext_by_NID(cert, nid, -1);
    return at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, at)) == 1;
}

// Seconds from now to the certificate's notBefore / notAfter.
long secondsFromNow(const ASN1_TIME* time) {
    int days = 0;
    int seconds = 0;
    ASN1_TIME_diff(&days, &seconds, nullptr, time);
    return days * 86400L + seconds;
}

void checkLeafError(const CertifiedKey& ca, const CertificateRequest& request, const std::string& field) {
    auto result = kubernetes::issueCertificate(ca, request);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::InvalidArgument);
    CHECK(result.error().field == field);
}

std::string sha256OfSpkiInTest(const std::string& certPem) {
    auto cert = pemCert(certPem);
    unsigned char* der = nullptr;
    int length = i2d_PUBKEY(X509_get0_pubkey(cert.get()), &der);
    unsigned char digest[32];
    unsigned int digestLength = 0;
    EVP_Digest(der, static_cast<std::size_t>(length), digest, &digestLength, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    std::string hex;
    for (unsigned i = 0; i < digestLength; ++i) {
        char pair[3];
        std::snprintf(pair, sizeof(pair), "%02x", digest[i]);
        hex += pair;
    }
    return "sha256:" + hex;
}

}  // namespace

TEST_CASE("kubernetes PKI: the three CAs are self-signed RSA 2048 CAs with kubeadm's names and usages") {
    ClusterPki pki = newPki();
    std::set<std::string> serials;
    for (auto [ca, commonName] :
         {std::pair{&pki.ca, "kubernetes"}, std::pair{&pki.frontProxyCa, "front-proxy-ca"},
          std::pair{&pki.etcdCa, "etcd-ca"}}) {
        CAPTURE(commonName);
        auto cert = pemCert(ca->certPem);
        auto key = pemKey(ca->keyPem);
        REQUIRE(cert);
        REQUIRE(key);
        CHECK(ca->keyPem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        CHECK(test::subjectEntries(cert.get(), NID_commonName) == std::vector<std::string>{commonName});
        CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
        CHECK(X509_verify(cert.get(), X509_get0_pubkey(cert.get())) == 1);
        CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
        CHECK(EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_RSA);
        CHECK(EVP_PKEY_get_bits(key.get()) == 2048);
        CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
        CHECK(X509_check_ca(cert.get()) == 1);
        CHECK(criticalExtension(cert.get(), NID_basic_constraints));
        CHECK(criticalExtension(cert.get(), NID_key_usage));
        CHECK(X509_get_key_usage(cert.get()) ==
              (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT | KU_KEY_CERT_SIGN));
        CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);
        CHECK(chainsTo(ca->certPem, ca->certPem, X509_PURPOSE_ANY));
        // Valid from a few minutes ago (clock skew) for the ten years asked.
        CHECK(secondsFromNow(X509_get0_notBefore(cert.get())) <= -240);
        CHECK(secondsFromNow(X509_get0_notBefore(cert.get())) >= -400);
        CHECK(std::abs(secondsFromNow(X509_get0_notAfter(cert.get())) - 3650L * 86400) < 120);
        // A random serial of up to 128 bits; three CAs, three serials.
        BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
        CHECK(BN_num_bits(serial) <= 128);
        CHECK(BN_num_bits(serial) > 64);
        char* hex = BN_bn2hex(serial);
        serials.insert(hex);
        OPENSSL_free(hex);
        BN_free(serial);
    }
    CHECK(serials.size() == 3);
    CHECK(pki.ca.keyPem != pki.etcdCa.keyPem);
}

TEST_CASE("kubernetes PKI: sa.key and sa.pub are one RSA 2048 key pair in the PEMs kubeadm writes") {
    ClusterPki pki = newPki();
    CHECK(pki.serviceAccountKeyPem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    CHECK(pki.serviceAccountPublicPem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    auto privateKey = pemKey(pki.serviceAccountKeyPem);
    BIO* bio = BIO_new_mem_buf(pki.serviceAccountPublicPem.data(),
                               static_cast<int>(pki.serviceAccountPublicPem.size()));
    test::KeyPtr publicKey(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    REQUIRE(privateKey);
    REQUIRE(publicKey);
    CHECK(EVP_PKEY_get_bits(privateKey.get()) == 2048);
    CHECK(EVP_PKEY_eq(privateKey.get(), publicKey.get()) == 1);
}

TEST_CASE("kubernetes PKI: a client certificate chains to its CA with clientAuth and the CN and O asked") {
    ClusterPki pki = newPki();
    CertificateRequest request =
        clientRequest("kubernetes-admin", {"kubeadm:cluster-admins", "system:masters"});
    request.validity = std::chrono::hours(48);
    CertifiedKey admin = issued(pki.ca, request);
    auto cert = pemCert(admin.certPem);
    auto key = pemKey(admin.keyPem);
    auto caCert = pemCert(pki.ca.certPem);
    REQUIRE(cert);
    REQUIRE(key);
    CHECK(chainsTo(admin.certPem, pki.ca.certPem, X509_PURPOSE_SSL_CLIENT));
    CHECK_FALSE(chainsTo(admin.certPem, pki.ca.certPem, X509_PURPOSE_SSL_SERVER));
    CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
    CHECK(EVP_PKEY_get_bits(key.get()) == 2048);
    CHECK(test::subjectEntries(cert.get(), NID_commonName) == std::vector<std::string>{"kubernetes-admin"});
    CHECK(test::subjectEntries(cert.get(), NID_organizationName) ==
          std::vector<std::string>{"kubeadm:cluster-admins", "system:masters"});
    CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_CLIENT);
    CHECK(X509_get_key_usage(cert.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
    CHECK(X509_check_ca(cert.get()) == 0);
    CHECK(criticalExtension(cert.get(), NID_basic_constraints));
    CHECK(X509_get_ext_by_NID(cert.get(), NID_subject_alt_name, -1) < 0);
    // The authority key identifier names the CA's key.
    REQUIRE(X509_get0_authority_key_id(cert.get()) != nullptr);
    CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert.get()),
                                X509_get0_subject_key_id(caCert.get())) == 0);
    CHECK(std::abs(secondsFromNow(X509_get0_notAfter(cert.get())) - 48L * 3600) < 120);
    CHECK(X509_get_signature_nid(cert.get()) == NID_sha256WithRSAEncryption);
}

TEST_CASE("kubernetes PKI: a server certificate carries its IP and DNS SANs") {
    ClusterPki pki = newPki();
    CertifiedKey server =
        issued(pki.ca, serverRequest("kube-apiserver", {"10.96.0.1", "127.0.0.1", "fd00::1"},
                                     {"kubernetes", "kubernetes.default.svc.cluster.local"}));
    auto cert = pemCert(server.certPem);
    REQUIRE(cert);
    CHECK(chainsTo(server.certPem, pki.ca.certPem, X509_PURPOSE_SSL_SERVER));
    CHECK_FALSE(chainsTo(server.certPem, pki.ca.certPem, X509_PURPOSE_SSL_CLIENT));
    CHECK(X509_get_extended_key_usage(cert.get()) == XKU_SSL_SERVER);
    for (const char* ip : {"10.96.0.1", "127.0.0.1", "fd00::1"}) {
        CAPTURE(ip);
        CHECK(X509_check_ip_asc(cert.get(), ip, 0) == 1);
    }
    CHECK(X509_check_ip_asc(cert.get(), "10.96.0.2", 0) == 0);
    CHECK(X509_check_host(cert.get(), "kubernetes.default.svc.cluster.local", 0, 0, nullptr) == 1);
    CHECK(X509_check_host(cert.get(), "kubernetes", 0, 0, nullptr) == 1);
    CHECK(X509_check_host(cert.get(), "example.com", 0, 0, nullptr) == 0);
}

TEST_CASE("kubernetes PKI: a certificate from another CA does not verify") {
    ClusterPki pki = newPki();
    ClusterPki other = newPki();
    CertificateRequest admin = clientRequest("kubernetes-admin", {"kubeadm:cluster-admins"});
    CertifiedKey stranger = issued(other.ca, admin);
    CHECK_FALSE(chainsTo(stranger.certPem, pki.ca.certPem, X509_PURPOSE_SSL_CLIENT));
    CHECK(chainsTo(stranger.certPem, other.ca.certPem, X509_PURPOSE_SSL_CLIENT));
    // Nor does one of the same cluster's etcd CA count for the cluster CA.
    CertifiedKey etcdClient = issued(pki.etcdCa, clientRequest("kube-apiserver-etcd-client"));
    CHECK_FALSE(chainsTo(etcdClient.certPem, pki.ca.certPem, X509_PURPOSE_SSL_CLIENT));
    CHECK(chainsTo(etcdClient.certPem, pki.etcdCa.certPem, X509_PURPOSE_SSL_CLIENT));
}

TEST_CASE("kubernetes PKI: issueCertificate names what is wrong with its input") {
    ClusterPki pki = newPki();
    CertificateRequest good = serverRequest("kube-apiserver", {"10.0.0.5"});
    for (const char* ip : {"10.0.0.256", "10.0.0", "10.0.0.5 ", "10.0.0.5/24", "", "localhost", "::g"}) {
        CAPTURE(ip);
        CertificateRequest request = good;
        request.ipSans.push_back(ip);
        checkLeafError(pki.ca, request, "ipSans");
    }
    for (const char* dns : {"", "a..b", "-a.example", "a-.example", "a b", "a,DNS:evil", "é.example"}) {
        CAPTURE(dns);
        CertificateRequest request = good;
        request.dnsSans = {dns};
        checkLeafError(pki.ca, request, "dnsSans");
    }
    checkLeafError(pki.ca, clientRequest(""), "commonName");
    checkLeafError(pki.ca, clientRequest(std::string(65, 'a')), "commonName");
    checkLeafError(pki.ca, clientRequest("a\nb"), "commonName");
    checkLeafError(pki.ca, clientRequest("admin", {""}), "organizations");
    CertificateRequest forNoTime = clientRequest("admin");
    forNoTime.validity = std::chrono::hours(0);
    checkLeafError(pki.ca, forNoTime, "validity");
    // A CA whose key is another's, no CA at all, or no PEM.
    checkLeafError({pki.ca.certPem, pki.etcdCa.keyPem}, good, "ca.keyPem");
    checkLeafError({"not a certificate", pki.ca.keyPem}, good, "ca.certPem");
    checkLeafError({pki.ca.certPem, "not a key"}, good, "ca.keyPem");
    CertifiedKey leaf = issued(pki.ca, clientRequest("leaf"));
    checkLeafError(leaf, good, "ca.certPem");
    // What is allowed: wildcards, IPv6, several O.
    CHECK(kubernetes::issueCertificate(pki.ca, serverRequest("x", {"::1"}, {"*.example.org"})).ok());
}

TEST_CASE("kubernetes PKI: generateClusterPki refuses a validity of nothing") {
    auto pki = kubernetes::generateClusterPki(std::chrono::hours(0));
    REQUIRE_FALSE(pki.ok());
    CHECK(pki.error().field == "caValidity");
}

TEST_CASE("kubernetes PKI: caCertHash is kubeadm's hash of the CA's SubjectPublicKeyInfo") {
    ClusterPki pki = newPki();
    auto hash = kubernetes::caCertHash(pki.ca.certPem);
    REQUIRE(hash.ok());
    CHECK(std::regex_match(*hash, std::regex("sha256:[0-9a-f]{64}")));
    CHECK(*hash == sha256OfSpkiInTest(pki.ca.certPem));
    CHECK(*kubernetes::caCertHash(pki.etcdCa.certPem) != *hash);

    // The pipeline kubeadm's documentation gives, run by a fixed shell script; the certificate
    // path is its argument, never part of the script.
    if (std::filesystem::exists("/usr/bin/openssl") && std::filesystem::exists("/usr/bin/sha256sum")) {
        test::TempDir dir("gpuhost-kube-hash");
        std::ofstream(dir.path / "ca.crt") << pki.ca.certPem;
        auto result = test::runCommand(
            {"/bin/sh", "-c",
             "openssl x509 -pubkey -noout -in \"$1\" | openssl pkey -pubin -outform der | sha256sum", "sh",
             (dir.path / "ca.crt").string()},
            test::environmentWith({}), dir.path, std::chrono::seconds(30));
        REQUIRE(result.exitCode == 0);
        CHECK(*hash == "sha256:" + result.out.substr(0, 64));
    }

    auto bad = kubernetes::caCertHash("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ErrorCode::InvalidArgument);
    CHECK(bad.error().field == "caCertPem");
}

TEST_CASE("kubernetes PKI: bootstrap tokens have kubeadm's shape and differ") {
    std::set<std::string> tokens;
    for (int i = 0; i < 200; ++i) {
        auto token = kubernetes::newBootstrapToken();
        REQUIRE(token.ok());
        CHECK(std::regex_match(*token, std::regex("[a-z0-9]{6}\\.[a-z0-9]{16}")));
        CHECK(kubernetes::isBootstrapToken(*token));
        tokens.insert(*token);
    }
    CHECK(tokens.size() == 200);

    CHECK(kubernetes::isBootstrapToken("abcdef.0123456789abcdef"));
    for (std::string_view bad :
         {"", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef0", "abcdef-0123456789abcdef",
          "abcdef.0123456789abcde", "abcdef.0123456789abcdefa", "abcdef.0123456789abcdef\n",
          " abcdef.0123456789abcdef", "abcdef.0123456789abcde_", "abcdef..123456789abcdef"}) {
        CAPTURE(bad);
        CHECK_FALSE(kubernetes::isBootstrapToken(bad));
    }
    CHECK_FALSE(kubernetes::isBootstrapToken(std::string_view("abcdef.0123456789abcde\0", 23)));
}

TEST_CASE("kubernetes PKI: parsePki(serializePki(pki)) is the same PKI") {
    ClusterPki pki = newPki();
    auto parsed = kubernetes::parsePki(kubernetes::serializePki(pki));
    REQUIRE_MESSAGE(parsed.ok(), parsed.error().message);
    CHECK(*parsed == pki);
}

TEST_CASE("kubernetes PKI: parsePki names the member that is bad") {
    ClusterPki pki = newPki();
    const auto document = nlohmann::json::parse(kubernetes::serializePki(pki));
    CertifiedKey leaf = issued(pki.ca, clientRequest("leaf"));
    auto checkBad = [&](const std::string& member, const nlohmann::json& value) {
        CAPTURE(member);
        CAPTURE(value.dump());
        auto changed = document;
        if (value.is_discarded()) {
            changed.erase(member);
        } else {
            changed[member] = value;
        }
        auto result = kubernetes::parsePki(changed.dump());
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::InvalidArgument);
        CHECK(result.error().field == member);
    };
    for (const auto& [member, pem] : document.items()) {
        checkBad(member, "garbage");
        checkBad(member, 42);
        checkBad(member, nlohmann::json(nlohmann::json::value_t::discarded));
        // A PEM with one byte of its base64 changed.
        std::string corrupted = pem.get<std::string>();
        corrupted[corrupted.find('\n') + 10] ^= 0x01;
        checkBad(member, corrupted);
    }
    checkBad("caKey", document["etcdCaKey"]);  // another CA's key
    checkBad("frontProxyCaKey", document["caKey"]);
    checkBad("serviceAccountPublicKey",
             nlohmann::json(leaf.keyPem));  // a private key where a public one goes
    checkBad("caCert", leaf.certPem);       // not a CA
    for (const char* text : {"", "[]", "{", "\"pki\""}) {
        auto result = kubernetes::parsePki(text);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "pki");
    }
}

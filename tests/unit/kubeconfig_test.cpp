#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "kubeconfig.hpp"
#include "support/golden.hpp"
#include "unit/kubernetes_test_helpers.hpp"

using namespace gpuhost;
using kubernetes::KubeconfigRequest;

namespace {

// Fixed stand-ins for PEMs: the golden file holds no key and never changes.
KubeconfigRequest fixedRequest() {
    return {
        .clusterName = "kubernetes",
        .server = "https://10.0.0.5:6443",
        .caCertPem = "-----BEGIN CERTIFICATE-----\nfixture cluster CA\n-----END CERTIFICATE-----\n",
        .userName = "kubernetes-admin",
        .client = {"-----BEGIN CERTIFICATE-----\nfixture admin certificate\n-----END CERTIFICATE-----\n",
                   "-----BEGIN RSA PRIVATE KEY-----\nfixture admin key\n-----END RSA PRIVATE KEY-----\n"}};
}

}  // namespace

TEST_CASE("kubeconfig: base64 is RFC 4648's") {
    CHECK(kubernetes::base64("") == "");
    CHECK(kubernetes::base64("f") == "Zg==");
    CHECK(kubernetes::base64("fo") == "Zm8=");
    CHECK(kubernetes::base64("foo") == "Zm9v");
    CHECK(kubernetes::base64("foob") == "Zm9vYg==");
    CHECK(kubernetes::base64("fooba") == "Zm9vYmE=");
    CHECK(kubernetes::base64("foobar") == "Zm9vYmFy");
    CHECK(kubernetes::base64(std::string("\xff\xfe\x00", 3)) == "//4A");
    std::string long_(5000, 'x');
    CHECK(test::unbase64(kubernetes::base64(long_)) == long_);
}

TEST_CASE("kubeconfig: golden for fixed inputs") {
    std::string rendered = kubernetes::renderKubeconfig(fixedRequest());
    CHECK(rendered == test::golden("kubernetes/kubeconfig.yaml", rendered));
}

TEST_CASE("kubeconfig: yaml-cpp reads back every field") {
    KubeconfigRequest request = fixedRequest();
    YAML::Node config = YAML::Load(kubernetes::renderKubeconfig(request));
    CHECK(config["apiVersion"].as<std::string>() == "v1");
    CHECK(config["kind"].as<std::string>() == "Config");
    REQUIRE(config["clusters"].size() == 1);
    CHECK(config["clusters"][0]["name"].as<std::string>() == "kubernetes");
    CHECK(config["clusters"][0]["cluster"]["server"].as<std::string>() == "https://10.0.0.5:6443");
    CHECK(test::unbase64(config["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>()) ==
          request.caCertPem);
    REQUIRE(config["users"].size() == 1);
    CHECK(config["users"][0]["name"].as<std::string>() == "kubernetes-admin");
    CHECK(test::unbase64(config["users"][0]["user"]["client-certificate-data"].as<std::string>()) ==
          request.client.certPem);
    CHECK(test::unbase64(config["users"][0]["user"]["client-key-data"].as<std::string>()) ==
          request.client.keyPem);
    REQUIRE(config["contexts"].size() == 1);
    CHECK(config["contexts"][0]["name"].as<std::string>() == "kubernetes-admin@kubernetes");
    CHECK(config["contexts"][0]["context"]["cluster"].as<std::string>() == "kubernetes");
    CHECK(config["contexts"][0]["context"]["user"].as<std::string>() == "kubernetes-admin");
    CHECK(config["current-context"].as<std::string>() == "kubernetes-admin@kubernetes");
    CHECK(config["preferences"].IsMap());
    CHECK(config["preferences"].size() == 0);
}

TEST_CASE("kubeconfig: names YAML would read as something else stay strings") {
    // kubectl reads YAML 1.1, where yes/no/on/off/y/n are booleans: those must come out quoted.
    struct Case {
        std::string name;
        bool quoted;
    };
    for (const auto& [name, quoted] : std::vector<Case>{{"kubernetes", false},
                                                        {"kubernetes-admin", false},
                                                        {"system:node:k8s-gpu-1", false},
                                                        {"yes", true},
                                                        {"No", true},
                                                        {"ON", true},
                                                        {"off", true},
                                                        {"y", true},
                                                        {"n", true},
                                                        {"true", true},
                                                        {"False", true},
                                                        {"null", true},
                                                        {"~", true},
                                                        {"", true},
                                                        {"123", true},
                                                        {"0x1f", true},
                                                        {"1e3", true},
                                                        {"1:20", true},
                                                        {".inf", true},
                                                        {"a:", true},
                                                        {"a: b", true},
                                                        {"#x", true},
                                                        {"- y", true},
                                                        {"@at", true},
                                                        {"*ref", true},
                                                        {" padded ", true},
                                                        {"multi\nline", true},
                                                        {"quote\"d", true},
                                                        {"naïve", true}}) {
        CAPTURE(name);
        KubeconfigRequest request = fixedRequest();
        request.clusterName = name;
        request.userName = name;
        std::string rendered = kubernetes::renderKubeconfig(request);
        YAML::Node config = YAML::Load(rendered);
        for (const YAML::Node& written : {config["clusters"][0]["name"], config["users"][0]["name"],
                                          config["contexts"][0]["context"]["cluster"]}) {
            CHECK(written.as<std::string>() == name);
            CHECK((written.Tag() == "!") == quoted);  // "!": a quoted scalar, "?": a plain one
        }
        CHECK(config["contexts"][0]["name"].as<std::string>() == name + "@" + name);
    }
}

TEST_CASE("kubeconfig: its client certificate verifies against its certificate-authority-data") {
    auto pki = kubernetes::generateClusterPki(std::chrono::hours(24));
    REQUIRE(pki.ok());
    auto admin = kubernetes::issueCertificate(
        pki->ca, test::clientRequest("kubernetes-admin", {"kubeadm:cluster-admins"}));
    REQUIRE(admin.ok());
    YAML::Node config = YAML::Load(kubernetes::renderKubeconfig(
        {"kubernetes", "https://10.0.0.5:6443", pki->ca.certPem, "kubernetes-admin", *admin}));
    std::string caPem =
        test::unbase64(config["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>());
    std::string certPem =
        test::unbase64(config["users"][0]["user"]["client-certificate-data"].as<std::string>());
    std::string keyPem = test::unbase64(config["users"][0]["user"]["client-key-data"].as<std::string>());
    CHECK(test::chainsTo(certPem, caPem, X509_PURPOSE_SSL_CLIENT));
    auto cert = test::pemCert(certPem);
    auto key = test::pemKey(keyPem);
    REQUIRE(cert);
    REQUIRE(key);
    CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
}

// The real kubectl against fixture_apiserver (mutual TLS, a fixed NodeList) with kubeconfigs we
// render: kubectl must accept ours, and the server must refuse a client certificate of another CA.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "kubeconfig.hpp"
#include "pki.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include "unit/kubernetes_test_helpers.hpp"

using namespace gpuhost;
using kubernetes::CertificateRequest;
using kubernetes::CertifiedKey;
using kubernetes::ClusterPki;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kNodesFixture = fs::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/kubernetes/nodes-3-ready.json";
const CertificateRequest kAdmin = test::clientRequest("kubernetes-admin", {"kubeadm:cluster-admins"});

// GPUHOST_KUBECTL picks another binary (e.g. Debian's kubernetes-client 1.20 unpacked somewhere
// when /usr/bin/kubectl is another build); absent, the test is skipped.
std::optional<std::string> kubectlPath() {
    const char* chosen = std::getenv("GPUHOST_KUBECTL");
    std::string path = chosen != nullptr ? chosen : "/usr/bin/kubectl";
    if (!fs::exists(path)) {
        std::cout << "SKIPPED: no kubectl at " << path << std::endl;
        return std::nullopt;
    }
    return path;
}

template <class T>
T ok(model::Result<T> result) {
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    return std::move(result).value();
}

void writePrivate(const fs::path& file, const std::string& text) {
    std::ofstream(file) << text;
    chmod(file.c_str(), 0600);
}

/// fixture_apiserver serving the cluster CA's clients with a server cert for 127.0.0.1, in a
/// temp dir; the process is killed and the dir removed when the test ends, failed or not.
class FixtureApiServer {
  public:
    explicit FixtureApiServer(const ClusterPki& pki) {
        CertifiedKey serving = ok(kubernetes::issueCertificate(
            pki.ca, test::serverRequest("kube-apiserver", {"127.0.0.1"}, {"localhost"})));
        std::ofstream(dir_.path / "server.crt") << serving.certPem;
        writePrivate(dir_.path / "server.key", serving.keyPem);
        std::ofstream(dir_.path / "client-ca.crt") << pki.ca.certPem;
        process_.emplace(
            std::vector<std::string>{GPUHOST_FIXTURE_APISERVER, "--cert", path("server.crt"), "--key",
                                     path("server.key"), "--client-ca", path("client-ca.crt"), "--nodes-json",
                                     kNodesFixture.string(), "--port-file", path("port")},
            test::environmentWith({}), dir_.path / "server.out", dir_.path / "server.log");
        auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!fs::exists(dir_.path / "port")) {
            REQUIRE_MESSAGE(!process_->exited(), "fixture_apiserver exited: " << log());
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                            "fixture_apiserver wrote no port: " << log());
            std::this_thread::sleep_for(20ms);
        }
        port_ = std::stoi(test::readText(dir_.path / "port"));
    }

    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    std::string log() const { return test::readText(dir_.path / "server.log"); }

  private:
    std::string path(const char* name) const { return (dir_.path / name).string(); }

    test::TempDir dir_{"gpuhost-apiserver"};
    std::optional<test::ChildProcess> process_;  // declared after dir_: killed before it goes
    int port_ = 0;
};

/// kubectl with a kubeconfig we render, its own HOME (the discovery cache lands there) and
/// nothing of the caller's KUBECONFIG.
test::CommandResult kubectl(const std::string& binary, const kubernetes::KubeconfigRequest& request,
                            std::vector<std::string> arguments) {
    test::TempDir home("gpuhost-kubectl");
    fs::path kubeconfig = home.path / "config";
    writePrivate(kubeconfig, kubernetes::renderKubeconfig(request));
    std::vector<std::string> argv = {binary, "--kubeconfig", kubeconfig.string(), "--request-timeout=20s"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return test::runCommand(argv, test::environmentWith({"HOME=" + home.path.string()}, {"KUBECONFIG"}),
                            home.path, 90s);
}

std::vector<std::string> nodeNames(const nlohmann::json& list) {
    std::vector<std::string> names;
    for (const auto& item : list.at("items")) {
        names.push_back(item.at("metadata").at("name").get<std::string>());
    }
    return names;
}

}  // namespace

TEST_CASE("kubectl get nodes through a rendered kubeconfig lists the fixture's nodes") {
    auto binary = kubectlPath();
    if (!binary) {
        return;
    }
    ClusterPki pki = ok(kubernetes::generateClusterPki(24h));
    FixtureApiServer server(pki);
    CertifiedKey admin = ok(kubernetes::issueCertificate(pki.ca, kAdmin));

    auto result = kubectl(*binary, {"kubernetes", server.url(), pki.ca.certPem, "kubernetes-admin", admin},
                          {"get", "nodes", "-o", "json", "-v=6"});
    INFO("kubectl stderr:\n" << result.err);
    INFO("fixture_apiserver log:\n" << server.log());
    REQUIRE_FALSE(result.timedOut);
    REQUIRE(result.exitCode == 0);
    auto printed = nlohmann::json::parse(result.out);
    CHECK(printed.at("kind") == "List");
    REQUIRE(printed.at("items").size() == 3);
    std::ifstream fixture(kNodesFixture);
    CHECK(nodeNames(printed) == nodeNames(nlohmann::json::parse(fixture)));
    CHECK(nodeNames(printed) == std::vector<std::string>{"k8s-cp-1", "k8s-worker-1", "k8s-gpu-1"});
}

TEST_CASE("kubectl is refused with a client certificate from another cluster's CA") {
    auto binary = kubectlPath();
    if (!binary) {
        return;
    }
    ClusterPki pki = ok(kubernetes::generateClusterPki(24h));
    ClusterPki other = ok(kubernetes::generateClusterPki(24h));
    FixtureApiServer server(pki);
    CertifiedKey stranger = ok(kubernetes::issueCertificate(other.ca, kAdmin));

    // The server is trusted (our CA), the client certificate is not.
    auto result = kubectl(*binary, {"kubernetes", server.url(), pki.ca.certPem, "kubernetes-admin", stranger},
                          {"get", "nodes", "-o", "json"});
    INFO("kubectl stderr:\n" << result.err);
    INFO("fixture_apiserver log:\n" << server.log());
    REQUIRE_FALSE(result.timedOut);
    CHECK(result.exitCode != 0);
    CHECK(result.out.find("k8s-cp-1") == std::string::npos);
    CHECK(result.err.find("tls: ") != std::string::npos);  // refused in the handshake, not unreachable
    CHECK(server.log().find("handshake refused") != std::string::npos);
    CHECK(server.log().find("GET /api/v1/nodes") == std::string::npos);
}

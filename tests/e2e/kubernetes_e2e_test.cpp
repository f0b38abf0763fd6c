// A Kubernetes cluster on qemu:///system (TCG) through the API, with the Kubernetes e2e image:
// the dev image plus stand-ins for kubeadm, kubectl and the kubelet (tests/e2e/kubernetes-
// standin/; kubeadm and kubelet are not installable here). Every production path is real: the
// agent's PKI and cloud-init parts, the step runner, kubectl through the guest agent, the
// upgrade runner as a systemd unit. A control plane and one worker boot and reach READY; each
// has the right files (paths, modes, contents); init ran before join, and the join carried a
// registered token and the hash of the agent's CA (the stand-in API server refuses anything
// else); the kubeconfig pins that CA; an upgrade rolls both nodes to the next minor; delete
// leaves nothing. One cluster serves every step.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "../integration/api_helpers.hpp"
#include "cluster_client.hpp"
#include "e2e_helpers.hpp"
#include "pki.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using namespace std::literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const fs::path kKubernetesImage = fs::path(GPUHOST_SOURCE_DIR) / "images/cache/debian12-kubernetes";
const std::string kCni = "/etc/gpuhost-e2e/cni.yaml";  // the stand-in kubectl records the apply

std::string kubernetesConfig() {
    return "images:\n  debian12-kubernetes:\n    path: " + (kKubernetesImage / "root.qcow2").string() +
           "\n    kernel: " + (kKubernetesImage / "vmlinuz").string() +
           "\n    initrd: " + (kKubernetesImage / "initrd.img").string() + "\n    cmdline: \"" +
           readFile(kKubernetesImage / "cmdline") +
           "\"\n"
           "kubernetes:\n  image: debian12-kubernetes\n  versions: [\"1.31\", \"1.32\"]\n"
           "  default_version: 1.31.2\n  cni_manifest: " +
           kCni +
           "\n"
           "instance_types:\n  - {name: e2e.tiny, cpu: 1, memory: 768Mi}\n"
           "capacity:\n  cpu_overcommit: 4\n"
           "libvirt:\n  uri: qemu:///system\n  virt_type: qemu\n  pool: @POOL@\n"
           "  tcg_cache_mib: 128\n  shutdown_timeout_s: 30\n  resync_interval_s: 300\n";
}

bool ready(const json& view, const std::string& version) {
    if (view["status"]["type"] != "READY" || view["nodePools"].size() != 1 ||
        view["nodePools"][0]["nodes"].size() != 1) {
        return false;
    }
    const auto& node = view["nodePools"][0]["nodes"][0];
    return node["state"] == "Ready" && node["kubeletVersion"] == version;  // the API drops the "v"
}

std::string domainOf(const json& node) {
    return "gpuhost-" + node["instanceID"].get<std::string>();
}

std::string modeAndOwner(const std::string& domain, const std::string& path) {
    return guestExec(domain, {"stat", "-c", "%a %U", path}).value_or("(no answer)");
}

// The stand-ins' record of each call in a guest, as JSON objects.
std::vector<json> calls(const std::string& domain) {
    std::vector<json> out;
    std::istringstream lines(guestExec(domain, {"cat", "/var/log/gpuhost-standin/calls.jsonl"}).value_or(""));
    for (std::string line; std::getline(lines, line);) {
        out.push_back(json::parse(line));
    }
    return out;
}

// The first recorded kubeadm call whose arguments start with `verb`; null when none.
json firstCall(const std::vector<json>& all, const std::string& verb) {
    for (const auto& call : all) {
        if (call.contains("argv") && !call["argv"].empty() && call["argv"][0] == verb &&
            !call.contains("error")) {
            return call;
        }
    }
    return nullptr;
}

std::string decodeBase64(const std::string& text) {
    std::string out(text.size() / 4 * 3, '\0');
    int size =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    REQUIRE(size >= 0);
    auto padding = text.size() - text.find_last_not_of('=') - 1;
    out.resize(static_cast<std::size_t>(size) - padding);
    return out;
}

}  // namespace

TEST_CASE("e2e: a Kubernetes cluster bootstraps with kubeadm (stand-in), upgrades one minor, and goes") {
    REQUIRE_MESSAGE(fs::exists(kKubernetesImage / "root.qcow2"),
                    "run images/build-dev-image.sh --kubernetes first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends
    Daemon daemon(kubernetesConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    ClusterClient api{
        daemon.port(), createProject(daemon.port(), "e2e-kubernetes"), "/kubernetes/clusters", {}};

    auto started = Clock::now();
    auto created = api.call("POST", "/kubernetes/clusters",
                            R"({"name":"e2e","version":"1.31.2",)"
                            R"("defaultNodePool":{"create":true,"name":"cpu","type":"e2e.tiny","count":1}})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    api.cluster = json::parse(created.body).at("id");

    auto view = api.waitFor([](const json& v) { return ready(v, "1.31.2"); });
    REQUIRE_MESSAGE(ready(view, "1.31.2"), view.dump(2) << "\n" << daemon.log());
    MESSAGE(
        "POST to READY: " << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
                          << " s; statuses " << json(api.statuses).dump());
    CHECK(std::find(api.statuses.begin(), api.statuses.end(), "BOOTSTRAPPING") != api.statuses.end());
    CHECK(view["version"] == "1.31.2");
    const auto worker = domainOf(view["nodePools"][0]["nodes"][0]);
    std::string controlPlane;
    for (const auto& instance : json::parse(api.call("GET", "/instances").body)) {
        if (instance["name"] == "e2e-control-plane") {
            controlPlane = "gpuhost-" + instance["id"].get<std::string>();
        }
    }
    REQUIRE(!controlPlane.empty());

    // The control plane's files: the agent's CA (the one the API shows), keys 0600, the config 0600.
    auto caPem = decodeBase64(view["certificateAuthorityData"]);
    CHECK(guestExec(controlPlane, {"cat", "/etc/kubernetes/pki/ca.crt"}) == caPem);
    for (const auto* key : {"ca.key", "front-proxy-ca.key", "etcd/ca.key", "sa.key"}) {
        CHECK(modeAndOwner(controlPlane, "/etc/kubernetes/pki/"s + key) == "600 root\n");
    }
    CHECK(modeAndOwner(controlPlane, "/etc/kubernetes/pki/ca.crt") == "644 root\n");
    CHECK(modeAndOwner(controlPlane, "/etc/kubernetes/gpuhost/kubeadm.yaml") == "600 root\n");
    CHECK(modeAndOwner(worker, "/etc/kubernetes/gpuhost/kubeadm-join.yaml") == "600 root\n");
    CHECK(guestExec(controlPlane, {"test", "-e", "/var/lib/gpuhost/kubeadm-init.done"}).has_value());
    auto initLog = guestExec(controlPlane, {"cat", "/var/log/gpuhost-kubeadm-init.log"}).value_or("");
    CHECK_MESSAGE(
        initLog.find("+ kubeadm init --config /etc/kubernetes/gpuhost/kubeadm.yaml") != std::string::npos,
        initLog);

    // Init before join; the join used a registered token and the hash of the agent's CA.
    auto cpCalls = calls(controlPlane);
    auto workerCalls = calls(worker);
    auto init = firstCall(cpCalls, "init");
    auto join = firstCall(workerCalls, "join");
    REQUIRE_MESSAGE(!init.is_null(), json(cpCalls).dump());
    REQUIRE_MESSAGE(!join.is_null(), json(workerCalls).dump());
    CHECK(init["at"].get<double>() < join["at"].get<double>());
    auto joinConfig = YAML::Load(join["config"].get<std::string>());
    auto hash = kubernetes::caCertHash(caPem);
    REQUIRE(hash.ok());
    CHECK(joinConfig["discovery"]["bootstrapToken"]["caCertHashes"][0].as<std::string>() == *hash);
    auto state =
        json::parse(guestExec(controlPlane, {"cat", "/var/lib/gpuhost-standin/cluster.json"}).value_or("{}"));
    REQUIRE(state.contains("joins"));
    REQUIRE(state["joins"].size() == 1);
    CHECK(state["joins"][0]["name"] == "cpu-0");
    CHECK(state["joins"][0]["hashOk"] == true);
    CHECK(state["caHash"] == *hash);
    CHECK(state["manifests"] == json::array({kCni}));  // the CNI applied after init

    // The kubeconfig pins the same CA and points at the control plane.
    auto kubeconfig = api.call("GET", "/kubernetes/clusters/" + api.cluster + "/kubeconfig");
    REQUIRE_MESSAGE(kubeconfig.status == 200, kubeconfig.body);
    auto parsed = YAML::Load(kubeconfig.body);
    CHECK(parsed["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>() ==
          view["certificateAuthorityData"].get<std::string>());
    CHECK(parsed["clusters"][0]["cluster"]["server"].as<std::string>().ends_with(":6443"));

    // An upgrade to the next minor: the control plane, then the worker (cordoned, drained,
    // upgraded, uncordoned), UPGRADING meanwhile, then READY on the new version.
    auto upgraded = api.call("PATCH", "/kubernetes/clusters/" + api.cluster, R"({"version":"v1.32.0"})");
    REQUIRE_MESSAGE(upgraded.status == 200, upgraded.body);
    auto rollStarted = Clock::now();
    view = api.waitFor([](const json& v) { return ready(v, "1.32.0"); });
    REQUIRE_MESSAGE(ready(view, "1.32.0"), view.dump(2) << "\n" << daemon.log());
    MESSAGE("upgrade roll: "
            << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - rollStarted).count()
            << " s; statuses " << json(api.statuses).dump());
    CHECK(std::find(api.statuses.begin(), api.statuses.end(), "UPGRADING") != api.statuses.end());
    CHECK(view["version"] == "1.32.0");
    cpCalls = calls(controlPlane);
    workerCalls = calls(worker);
    auto apply = firstCall(cpCalls, "upgrade");
    auto node = firstCall(workerCalls, "upgrade");
    REQUIRE(!apply.is_null());
    REQUIRE(!node.is_null());
    CHECK(apply["argv"] == json::array({"upgrade", "apply", "--yes", "v1.32.0"}));
    CHECK(node["argv"] == json::array({"upgrade", "node"}));
    CHECK(apply["at"].get<double>() < node["at"].get<double>());
    std::vector<std::string> kubectlVerbs;
    for (const auto& call : cpCalls) {
        if (call.contains("kubectl") && call["kubectl"][0] != "get") {
            kubectlVerbs.push_back(call["kubectl"][0].get<std::string>() + " " +
                                   call["kubectl"][1].get<std::string>());
        }
    }
    INFO("kubectl calls on the control plane: " << json(kubectlVerbs).dump());
    CHECK(kubectlVerbs == std::vector<std::string>{"apply --filename=" + kCni, "cordon cpu-0", "drain cpu-0",
                                                   "uncordon cpu-0"});
    CHECK(view["nodePools"][0]["nodes"][0]["unschedulable"] == false);

    // Delete: DELETING until the VMs are gone, then 404, and nothing left on the host.
    CHECK(api.removeAndWait());
    for (const auto& domain : {controlPlane, worker}) {
        CHECK(virsh({"domstate", domain}).empty());
    }
    CHECK(json::parse(api.call("GET", "/instances").body).empty());
    MESSAGE("whole test: " << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
                           << " s");
}

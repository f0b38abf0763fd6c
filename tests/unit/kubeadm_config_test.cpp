#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "kubeadm_config.hpp"
#include "support/golden.hpp"
#include "support/kubeadm_field_check.hpp"
#include "unit/hostile_strings.hpp"

using namespace gpuhost;
using namespace std::chrono_literals;
using kubernetes::ControlPlaneConfig;
using kubernetes::JoinConfig;
using kubernetes::KubernetesVersion;

namespace {

const std::string kToken = "abcdef.0123456789abcdef";
const std::string kHash = "sha256:" + std::string(32, 'a') + std::string(32, '7');

ControlPlaneConfig controlPlane(KubernetesVersion version) {
    return {version,
            "train",
            "train-cp-0",
            "10.0.0.5:6443",
            "10.244.0.0/16",
            "10.96.0.0/12",
            kToken,
            24h,
            {"10.0.0.5", "203.0.113.5", "api.train.example"},
            {{"gpuhost.io/pool", "control-plane"}},
            {}};
}

JoinConfig worker(KubernetesVersion version) {
    return {version,
            "train-h100-0",
            "10.0.0.5:6443",
            kToken,
            {kHash},
            {{"gpuhost.io/pool", "h100"}},
            {kubernetes::gpuTaint()}};
}

std::string required(const model::Result<std::string>& text) {
    REQUIRE_MESSAGE(text.ok(), text.error().message);
    return *text;
}

void checkFields(const std::string& yaml, const KubernetesVersion& version,
                 const std::vector<std::string>& kinds) {
    auto check = test::checkKubeadmFields(yaml, version);
    CHECK(check.problems == std::vector<std::string>{});
    CHECK(check.kinds == kinds);
}

const std::vector<std::string> kInitKinds{"InitConfiguration", "ClusterConfiguration",
                                          "KubeletConfiguration"};

std::string fieldOf(const model::Result<std::string>& text) {
    return text.ok() ? std::string("(accepted)") : text.error().field;
}

}  // namespace

TEST_CASE("kubernetes version: only v1.32.5 and 1.32.5 forms parse") {
    auto parsed = kubernetes::parseKubernetesVersion("v1.32.5", "version");
    REQUIRE(parsed.ok());
    CHECK(*parsed == KubernetesVersion{1, 32, 5});
    CHECK(parsed->text() == "1.32.5");
    CHECK(parsed->tag() == "v1.32.5");
    CHECK(*kubernetes::parseKubernetesVersion("1.30.0", "version") == KubernetesVersion{1, 30, 0});
    CHECK(*kubernetes::parseKubernetesVersion("1.31.10", "version") > KubernetesVersion{1, 31, 9});
    for (const char* bad :
         {"",          "v",       "1",           "1.32",        "1.32.",   "1.32.5.1",     "01.32.5",
          "1.032.5",   "1.32.05", "1.32.5-rc.1", "1.32.5+k3s1", "V1.32.5", " 1.32.5",      "1.32.5 ",
          "12345.1.1", "1.-1.0",  "vv1.2.3",     "1..2",        "1.3a.2",  "\xd9\xa1.32.5"}) {
        CAPTURE(bad);
        auto result = kubernetes::parseKubernetesVersion(bad, "spec.version");
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "spec.version");
        CHECK(result.error().code == model::ErrorCode::InvalidArgument);
    }
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        CHECK_FALSE(kubernetes::parseKubernetesVersion(hostile.bytes, "version").ok());
    }
}

TEST_CASE("kubernetes version: the kubeadm API version follows the release") {
    auto api = [](KubernetesVersion version) {
        auto result = kubernetes::kubeadmApiVersion(version);
        return result.ok() ? std::string(*result) : "error: " + result.error().field;
    };
    CHECK(api({1, 21, 14}) == "error: version");
    CHECK(api({0, 99, 0}) == "error: version");
    CHECK(api({2, 0, 0}) == "error: version");
    CHECK(api({1, 22, 0}) == "kubeadm.k8s.io/v1beta3");
    CHECK(api({1, 30, 14}) == "kubeadm.k8s.io/v1beta3");
    CHECK(api({1, 31, 0}) == "kubeadm.k8s.io/v1beta4");
    CHECK(api({1, 33, 1}) == "kubeadm.k8s.io/v1beta4");
    CHECK(api({1, 37, 0}) == "kubeadm.k8s.io/v1beta4");  // v1beta3 is gone there
}

TEST_CASE("kubernetes version: kubeadm upgrades one minor release at a time") {
    auto step = [](KubernetesVersion from, KubernetesVersion to) {
        auto result = kubernetes::checkUpgradeStep(from, to, "spec.version");
        return result.ok() ? std::string("ok") : result.error().message;
    };
    CHECK(step({1, 31, 2}, {1, 31, 2}) == "ok");  // the caller's no-op
    CHECK(step({1, 31, 2}, {1, 31, 9}) == "ok");
    CHECK(step({1, 31, 2}, {1, 32, 0}) == "ok");
    CHECK(step({1, 31, 9}, {1, 32, 0}) == "ok");
    CHECK(step({1, 31, 2}, {1, 33, 0}).starts_with("spec.version: kubeadm upgrades one minor"));
    CHECK(step({1, 31, 2}, {1, 31, 1}).find("cannot downgrade") != std::string::npos);
    CHECK(step({1, 32, 0}, {1, 31, 9}).find("cannot downgrade") != std::string::npos);
    CHECK(step({1, 31, 2}, {2, 0, 0}).find("major") != std::string::npos);
}

TEST_CASE("kubeadm config: init configs match their goldens and kubeadm's fields") {
    for (auto version :
         {KubernetesVersion{1, 30, 4}, KubernetesVersion{1, 31, 2}, KubernetesVersion{1, 33, 1}}) {
        CAPTURE(version.text());
        auto yaml = required(kubernetes::initConfiguration(controlPlane(version)));
        auto name =
            "kubernetes/kubeadm/init-" + std::to_string(version.major) + "." + std::to_string(version.minor);
        CHECK(yaml == test::golden(name + ".yaml", yaml));
        checkFields(yaml, version, kInitKinds);
    }
}

TEST_CASE("kubeadm config: join configs match their goldens and kubeadm's fields") {
    for (auto version :
         {KubernetesVersion{1, 30, 4}, KubernetesVersion{1, 31, 2}, KubernetesVersion{1, 33, 1}}) {
        CAPTURE(version.text());
        auto yaml = required(kubernetes::joinConfiguration(worker(version)));
        auto name =
            "kubernetes/kubeadm/join-" + std::to_string(version.major) + "." + std::to_string(version.minor);
        CHECK(yaml == test::golden(name + ".yaml", yaml));
        checkFields(yaml, version, {"JoinConfiguration"});
    }
}

TEST_CASE("kubeadm config: v1beta3 and v1beta4 put labels and timeouts where each expects them") {
    auto v3 = YAML::LoadAll(required(kubernetes::initConfiguration(controlPlane({1, 30, 4}))));
    auto v4 = YAML::LoadAll(required(kubernetes::initConfiguration(controlPlane({1, 31, 2}))));
    REQUIRE(v3.size() == 3);
    REQUIRE(v4.size() == 3);
    CHECK(v3[0]["nodeRegistration"]["kubeletExtraArgs"]["node-labels"].as<std::string>() ==
          "gpuhost.io/pool=control-plane");
    CHECK(v4[0]["nodeRegistration"]["kubeletExtraArgs"][0]["name"].as<std::string>() == "node-labels");
    CHECK(v4[0]["nodeRegistration"]["kubeletExtraArgs"][0]["value"].as<std::string>() ==
          "gpuhost.io/pool=control-plane");
    CHECK(v3[1]["apiServer"]["timeoutForControlPlane"].as<std::string>() == "20m0s");
    CHECK_FALSE(v3[0]["timeouts"].IsDefined());
    CHECK(v4[0]["timeouts"]["controlPlaneComponentHealthCheck"].as<std::string>() == "20m0s");
    CHECK_FALSE(v4[1]["apiServer"]["timeoutForControlPlane"].IsDefined());
    for (const auto& docs : {v3, v4}) {
        CHECK(docs[0]["bootstrapTokens"][0]["token"].as<std::string>() == kToken);
        CHECK(docs[0]["bootstrapTokens"][0]["ttl"].as<std::string>() == "24h0m0s");
        // No taints key: kubeadm's default control-plane taint applies.
        CHECK_FALSE(docs[0]["nodeRegistration"]["taints"].IsDefined());
        CHECK(docs[1]["kubernetesVersion"].as<std::string>().starts_with("v1.3"));
        CHECK(docs[1]["networking"]["dnsDomain"].as<std::string>() == "cluster.local");
        CHECK(docs[2]["cgroupDriver"].as<std::string>() == "systemd");
    }
    auto joinV3 = YAML::Load(required(kubernetes::joinConfiguration(worker({1, 30, 4}))));
    auto joinV4 = YAML::Load(required(kubernetes::joinConfiguration(worker({1, 31, 2}))));
    CHECK(joinV3["discovery"]["timeout"].as<std::string>() == "20m0s");
    CHECK(joinV4["timeouts"]["discovery"].as<std::string>() == "20m0s");
    CHECK_FALSE(joinV4["discovery"]["timeout"].IsDefined());
    for (const auto& join : {joinV3, joinV4}) {
        CHECK(join["discovery"]["bootstrapToken"]["caCertHashes"][0].as<std::string>() == kHash);
        CHECK(join["discovery"]["tlsBootstrapToken"].as<std::string>() == kToken);
        CHECK(join["nodeRegistration"]["taints"][0]["key"].as<std::string>() == "nvidia.com/gpu");
        CHECK(join["nodeRegistration"]["taints"][0]["value"].as<std::string>() == "present");
    }
    // No endpoint: kubeadm uses the node's own address.
    auto single = controlPlane({1, 31, 2});
    single.controlPlaneEndpoint.reset();
    single.certSans.clear();
    single.nodeLabels.clear();
    single.nodeTaints = {{"node-role.kubernetes.io/control-plane", "", "PreferNoSchedule"}};
    auto yaml = required(kubernetes::initConfiguration(single));
    checkFields(yaml, {1, 31, 2}, kInitKinds);
    auto docs = YAML::LoadAll(yaml);
    CHECK_FALSE(docs[1]["controlPlaneEndpoint"].IsDefined());
    CHECK_FALSE(docs[1]["apiServer"].IsDefined());
    CHECK_FALSE(docs[0]["nodeRegistration"]["kubeletExtraArgs"].IsDefined());
    CHECK(docs[0]["nodeRegistration"]["taints"][0]["effect"].as<std::string>() == "PreferNoSchedule");
    CHECK_FALSE(docs[0]["nodeRegistration"]["taints"][0]["value"].IsDefined());
}

TEST_CASE("kubeadm config: durations print as Go prints them") {
    CHECK(kubernetes::goDuration(24h) == "24h0m0s");
    CHECK(kubernetes::goDuration(90s) == "1m30s");
    CHECK(kubernetes::goDuration(30s) == "30s");
    CHECK(kubernetes::goDuration(3601s) == "1h0m1s");
    CHECK(kubernetes::goDuration(20min) == "20m0s");
}

TEST_CASE("kubeadm config: bad values are refused naming the field") {
    using Mutation = void (*)(ControlPlaneConfig&);
    const std::vector<std::pair<Mutation, std::string>> cases{
        {[](ControlPlaneConfig& c) {
             c.version = {1, 21, 0};
         },
         "version"},
        {[](ControlPlaneConfig& c) { c.nodeName = "Train-CP"; }, "nodeName"},
        {[](ControlPlaneConfig& c) { c.nodeName = "cp_0"; }, "nodeName"},
        {[](ControlPlaneConfig& c) { c.clusterName = ""; }, "clusterName"},
        {[](ControlPlaneConfig& c) { c.controlPlaneEndpoint = "10.0.0.5"; }, "controlPlaneEndpoint"},
        {[](ControlPlaneConfig& c) { c.controlPlaneEndpoint = "10.0.0.5:65536"; }, "controlPlaneEndpoint"},
        {[](ControlPlaneConfig& c) { c.controlPlaneEndpoint = "10.0.0.5:06443"; }, "controlPlaneEndpoint"},
        {[](ControlPlaneConfig& c) { c.controlPlaneEndpoint = "fd00::5:6443"; }, "controlPlaneEndpoint"},
        {[](ControlPlaneConfig& c) { c.podSubnet = "10.244.0.0"; }, "podSubnet"},
        {[](ControlPlaneConfig& c) { c.podSubnet = "10.244.0.0/33"; }, "podSubnet"},
        {[](ControlPlaneConfig& c) { c.podSubnet = "10.244.0.0/16,10.245.0.0/16"; }, "podSubnet"},
        {[](ControlPlaneConfig& c) { c.serviceSubnet = "10.96.0.0/012"; }, "serviceSubnet"},
        {[](ControlPlaneConfig& c) { c.bootstrapToken = "ABCDEF.0123456789abcdef"; }, "bootstrapToken"},
        {[](ControlPlaneConfig& c) { c.bootstrapToken = "abcdef0123456789abcdef0"; }, "bootstrapToken"},
        {[](ControlPlaneConfig& c) { c.tokenTtl = 0s; }, "tokenTtl"},
        {[](ControlPlaneConfig& c) {
             c.certSans = {"10.0.0.5", "not a name"};
         },
         "certSans[1]"},
        {[](ControlPlaneConfig& c) {
             c.nodeLabels = {{"kubernetes.io/role", "gpu"}};
         },
         "nodeLabels[kubernetes.io/role]"},
        {[](ControlPlaneConfig& c) {
             c.nodeLabels = {{"node-role.kubernetes.io/gpu", ""}};
         },
         "nodeLabels[node-role.kubernetes.io/gpu]"},
        {[](ControlPlaneConfig& c) {
             c.nodeLabels = {{"a", "b,c=d"}};
         },
         "nodeLabels[a]"},
        {[](ControlPlaneConfig& c) {
             c.nodeLabels = {{"a=b", "c"}};
         },
         "nodeLabels"},
        {[](ControlPlaneConfig& c) {
             c.nodeTaints = {{"a", "b", "NoSchedulee"}};
         },
         "nodeTaints[0].effect"},
        {[](ControlPlaneConfig& c) {
             c.nodeTaints = {{"a", "b", "NoSchedule"}, {"a", "c", "NoSchedule"}};
         },
         "nodeTaints[1]"},
        {[](ControlPlaneConfig& c) {
             c.nodeTaints = {{"", "b", "NoSchedule"}};
         },
         "nodeTaints[0].key"},
    };
    for (const auto& [mutate, field] : cases) {
        auto config = controlPlane({1, 31, 2});
        mutate(config);
        CAPTURE(field);
        CHECK(fieldOf(kubernetes::initConfiguration(config)) == field);
    }
    // Accepted: dual stack, IPv6 endpoints, wildcard SANs, the kubelet's own label namespaces.
    auto config = controlPlane({1, 31, 2});
    config.podSubnet = "10.244.0.0/16,fd00:10:244::/56";
    config.controlPlaneEndpoint = "[fd00::5]:6443";
    config.certSans = {"*.train.example", "fd00::5"};
    config.nodeLabels = {{"node.kubernetes.io/pool", "a"}, {"nvidia.com/gpu.present", "true"}, {"plain", ""}};
    CHECK(fieldOf(kubernetes::initConfiguration(config)) == "(accepted)");
    auto join = worker({1, 31, 2});
    join.caCertHashes = {};
    CHECK(fieldOf(kubernetes::joinConfiguration(join)) == "caCertHashes");
    join.caCertHashes = {"sha256:" + std::string(64, 'A')};
    CHECK(fieldOf(kubernetes::joinConfiguration(join)) == "caCertHashes[0]");
    join = worker({1, 31, 2});
    join.apiServerEndpoint = "";
    CHECK(fieldOf(kubernetes::joinConfiguration(join)) == "apiServerEndpoint");
    join = worker({1, 31, 2});
    join.token = kToken + "\n";
    CHECK(fieldOf(kubernetes::joinConfiguration(join)) == "token");
}

TEST_CASE("kubeadm config: hostile strings are refused, and YAML-looking names stay strings") {
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        const auto& bad = hostile.bytes;
        auto refused = [&](void (*mutate)(ControlPlaneConfig&, const std::string&),
                           const std::string& field) {
            auto config = controlPlane({1, 31, 2});
            mutate(config, bad);
            CHECK(fieldOf(kubernetes::initConfiguration(config)) == field);
        };
        refused([](ControlPlaneConfig& c, const std::string& s) { c.nodeName = s; }, "nodeName");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.clusterName = s; }, "clusterName");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.controlPlaneEndpoint = s; },
                "controlPlaneEndpoint");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.podSubnet = s; }, "podSubnet");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.serviceSubnet = "10.96.0.0/12," + s; },
                "serviceSubnet");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.bootstrapToken = s; }, "bootstrapToken");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.certSans = {s}; }, "certSans[0]");
        refused([](ControlPlaneConfig& c, const std::string& s) { c.nodeLabels = {{s, "x"}}; }, "nodeLabels");
        refused(
            [](ControlPlaneConfig& c, const std::string& s) {
                c.nodeLabels = {{"x", s}};
            },
            "nodeLabels[x]");
        refused(
            [](ControlPlaneConfig& c, const std::string& s) {
                c.nodeTaints = {{s, "", "NoSchedule"}};
            },
            "nodeTaints[0].key");
        refused(
            [](ControlPlaneConfig& c, const std::string& s) {
                c.nodeTaints = {{"x", s, "NoSchedule"}};
            },
            "nodeTaints[0].value");
        refused(
            [](ControlPlaneConfig& c, const std::string& s) {
                c.nodeTaints = {{"x", "", s}};
            },
            "nodeTaints[0].effect");
        auto join = worker({1, 30, 4});
        join.caCertHashes.push_back(bad);
        CHECK(fieldOf(kubernetes::joinConfiguration(join)) == "caCertHashes[1]");
    }
    // Valid names that YAML 1.1 would read as something else are written as strings.
    auto config = controlPlane({1, 30, 4});
    config.clusterName = "null";
    config.nodeName = "1";
    config.nodeTaints = {{"yes", "true", "NoExecute"}, {"on", "1.5", "NoSchedule"}};
    auto yaml = required(kubernetes::initConfiguration(config));
    checkFields(yaml, {1, 30, 4}, kInitKinds);
    auto docs = YAML::LoadAll(yaml);
    CHECK(docs[1]["clusterName"].as<std::string>() == "null");
    CHECK(docs[0]["nodeRegistration"]["name"].as<std::string>() == "1");
    CHECK(docs[0]["nodeRegistration"]["taints"][1]["value"].as<std::string>() == "1.5");
}

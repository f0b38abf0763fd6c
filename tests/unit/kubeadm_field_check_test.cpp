// The strict field checker is test support; these cases make sure it cannot pass vacuously.
#include <doctest/doctest.h>

#include "support/kubeadm_field_check.hpp"

using namespace gpuhost;
using kubernetes::KubernetesVersion;

namespace {

const KubernetesVersion k130{1, 30, 0};
const KubernetesVersion k131{1, 31, 0};

// kubeadm-fields.md's minimal v1beta4 example, less the join document.
const std::string kGoodV1beta4 = R"(apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: "abcdef.0123456789abcdef"
  ttl: "24h"
localAPIEndpoint:
  advertiseAddress: "10.0.0.10"
  bindPort: 6443
nodeRegistration:
  name: "k8s-cp-1"
  criSocket: "unix:///run/containerd/containerd.sock"
  kubeletExtraArgs:
  - name: "node-ip"
    value: "10.0.0.10"
timeouts:
  controlPlaneComponentHealthCheck: "4m0s"
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: "v1.35.2"
controlPlaneEndpoint: "10.0.0.10:6443"
networking:
  podSubnet: "10.244.0.0/16"
apiServer:
  certSANs: ["10.0.0.10", "203.0.113.10"]
  extraArgs:
  - name: "authorization-mode"
    value: "Node,RBAC"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
failCgroupV1: false
evictionHard:
  memory.available: "100Mi"
)";

const std::string kGoodV1beta3Join = R"(apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
nodeRegistration:
  name: w-1
  kubeletExtraArgs:
    node-labels: "a=b"
  taints: []
discovery:
  bootstrapToken:
    apiServerEndpoint: "10.0.0.10:6443"
    token: "abcdef.0123456789abcdef"
    caCertHashes: ["sha256:00"]
  timeout: 5m0s
)";

// The problems of `yaml`, one of which must mention `expected`.
void expectProblem(const std::string& yaml, const KubernetesVersion& version, const std::string& expected) {
    auto result = test::checkKubeadmFields(yaml, version);
    CAPTURE(yaml);
    bool found = false;
    for (const auto& problem : result.problems) {
        found = found || problem.find(expected) != std::string::npos;
    }
    CHECK_MESSAGE(found, "no problem mentions \"" << expected << "\" among " << result.problems.size());
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("kubeadm field check: the upstream examples pass") {
    auto good = test::checkKubeadmFields(kGoodV1beta4, k131);
    CHECK(good.problems == std::vector<std::string>{});
    CHECK(good.kinds ==
          std::vector<std::string>{"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"});
    auto join = test::checkKubeadmFields(kGoodV1beta3Join, k130);
    CHECK(join.problems == std::vector<std::string>{});
    CHECK(join.kinds == std::vector<std::string>{"JoinConfiguration"});
}

TEST_CASE("kubeadm field check: fields of the other API version are misplaced") {
    // v1beta4's timeouts in v1beta3, and v1beta3's timeouts in v1beta4.
    expectProblem(replaced(kGoodV1beta3Join, "discovery:", "timeouts:\n  discovery: 5m0s\ndiscovery:"), k130,
                  "timeouts: unknown field");
    expectProblem(replaced(kGoodV1beta4, "apiServer:\n", "apiServer:\n  timeoutForControlPlane: 4m0s\n"),
                  k131, "apiServer.timeoutForControlPlane: unknown field");
    auto v1beta4Join = replaced(replaced(kGoodV1beta3Join, "v1beta3", "v1beta4"), "    node-labels: \"a=b\"",
                                "  - name: node-labels\n    value: \"a=b\"");
    CHECK(test::checkKubeadmFields(replaced(v1beta4Join, "  timeout: 5m0s\n", ""), k131).problems.empty());
    expectProblem(v1beta4Join, k131, "discovery.timeout: unknown field");
    // extraArgs: a map in v1beta3, a list of {name, value} in v1beta4.
    expectProblem(replaced(kGoodV1beta4, "  - name: \"authorization-mode\"\n    value: \"Node,RBAC\"",
                           "    authorization-mode: \"Node,RBAC\""),
                  k131, "apiServer.extraArgs: must be a list");
    expectProblem(replaced(kGoodV1beta3Join, "v1beta3", "v1beta4"), k131, "kubeletExtraArgs: must be a list");
}

TEST_CASE("kubeadm field check: unknown, wrongly-cased and duplicate fields fail") {
    expectProblem(replaced(kGoodV1beta4, "controlPlaneEndpoint", "ControlPlaneEndpoint"), k131,
                  "doc 2 (ClusterConfiguration) ControlPlaneEndpoint: unknown field");
    expectProblem(replaced(kGoodV1beta4, "  podSubnet:", "  podSubnets:"), k131,
                  "networking.podSubnets: unknown field");
    expectProblem(replaced(kGoodV1beta4, "  podSubnet:", "  _list:"), k131,
                  "networking._list: unknown field");
    expectProblem(replaced(kGoodV1beta4, "  ttl: \"24h\"", "  ttl: \"24h\"\n  ttl: \"1h\""), k131,
                  "bootstrapTokens[0].ttl: duplicate field");
    expectProblem(kGoodV1beta4 + "metadata:\n  name: config\n", k131, "metadata: unknown field");
    expectProblem(replaced(kGoodV1beta4, "cgroupDriver: systemd", "cgroupdriver: systemd"), k131,
                  "doc 3 (KubeletConfiguration) cgroupdriver: unknown field");
}

TEST_CASE("kubeadm field check: value kinds must fit the field") {
    expectProblem(replaced(kGoodV1beta4, "bindPort: 6443", "bindPort: \"6443\""), k131,
                  "localAPIEndpoint.bindPort: must be a plain integer");
    expectProblem(replaced(kGoodV1beta4, "name: \"k8s-cp-1\"", "name: 1.30"), k131,
                  "nodeRegistration.name: reads as a bool, number or null");
    expectProblem(replaced(kGoodV1beta4, "name: \"k8s-cp-1\"", "name: on"), k131,
                  "nodeRegistration.name: reads as");
    expectProblem(replaced(kGoodV1beta4, "name: \"k8s-cp-1\"", "name: [a]"), k131,
                  "nodeRegistration.name: must be a scalar");
    expectProblem(replaced(kGoodV1beta4, "ttl: \"24h\"", "ttl: \"one day\""), k131,
                  "ttl: must be a Go duration");
    expectProblem(replaced(kGoodV1beta4, "abcdef.0123456789abcdef", "not-a-token"), k131,
                  "bootstrapTokens[0].token: must be a bootstrap token");
    expectProblem(
        replaced(kGoodV1beta4, "certSANs: [\"10.0.0.10\", \"203.0.113.10\"]", "certSANs: \"10.0.0.10\""),
        k131, "apiServer.certSANs: must be a list");
    expectProblem(replaced(kGoodV1beta4, "networking:\n  podSubnet: \"10.244.0.0/16\"", "networking: []"),
                  k131, "networking: must be a map");
    expectProblem(replaced(kGoodV1beta4, "cgroupDriver: systemd", "cgroupDriver: [systemd]"), k131,
                  "cgroupDriver: must be a scalar");
    expectProblem(replaced(kGoodV1beta4, "  memory.available: \"100Mi\"", "  - memory.available"), k131,
                  "evictionHard: must be a map");
}

TEST_CASE("kubeadm field check: API versions, kinds and kubelet fields follow the release") {
    expectProblem(kGoodV1beta4, k130, "kubeadm.k8s.io/v1beta4 is not read by kubeadm 1.30.0");
    expectProblem(kGoodV1beta3Join, {1, 37, 0}, "kubeadm.k8s.io/v1beta3 is not read by kubeadm 1.37.0");
    expectProblem(kGoodV1beta3Join, {1, 21, 9}, "is not read by kubeadm 1.21.9");
    expectProblem(replaced(kGoodV1beta4, "kind: InitConfiguration", "kind: NodeConfiguration"), k131,
                  "kind: unknown kind");
    expectProblem(replaced(kGoodV1beta4, "kind: InitConfiguration", "kind: _meta"), k131,
                  "kind: unknown kind");
    expectProblem(
        replaced(kGoodV1beta4, "kubeadm.k8s.io/v1beta4\nkind: Init", "kubeadm.k8s.io/v1beta2\nkind: Init"),
        k131, "unknown API version");
    // failCgroupV1 is no field of the 1.30 kubelet the field list knows.
    auto kubeletOnly = kGoodV1beta4.substr(kGoodV1beta4.rfind("apiVersion: kubelet"));
    expectProblem(kubeletOnly, k130, "failCgroupV1: is not a field before 1.31");
    CHECK(test::checkKubeadmFields(kubeletOnly, k131).problems.empty());
    expectProblem("apiVersion: [", k131, "not YAML");
    expectProblem("---\n", k131, "unknown API version");
}

#pragma once

// kubeadm's configuration files, in the API version the cluster's release reads (v1beta3 for
// 1.22-1.30, v1beta4 from 1.31): what `kubeadm init --config` and `kubeadm join --config` get.
// Pure; rendered with yaml-cpp's emitter, every string value double-quoted, so no input is
// ever spliced into YAML. Every field name comes from kubeadm's types.go (the field maps in
// tests/fixtures/kubernetes/ check them).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "labels.hpp"
#include "model/error.hpp"
#include "version.hpp"

namespace gpuhost::kubernetes {

/// The first control-plane node of a cluster.
struct ControlPlaneConfig {
    KubernetesVersion version;
    std::string clusterName;  // DNS subdomain
    std::string nodeName;     // DNS subdomain
    /// host:port every node and kubeconfig reaches the API server at; nullopt: this node's
    /// address, as kubeadm detects it (fine for one control-plane node).
    std::optional<std::string> controlPlaneEndpoint;
    std::string podSubnet;       // CIDR, or an IPv4 and an IPv6 CIDR separated by ','
    std::string serviceSubnet;   // likewise
    std::string bootstrapToken;  // [a-z0-9]{6}.[a-z0-9]{16}, for the workers to join with
    std::chrono::seconds tokenTtl{std::chrono::hours(24)};
    std::vector<std::string> certSans;  // extra API server names: IPs or DNS names (may start "*.")
    Labels nodeLabels;
    /// Empty: kubeadm's default node-role.kubernetes.io/control-plane:NoSchedule.
    std::vector<Taint> nodeTaints;
};

/// A worker joining the cluster with a bootstrap token.
struct JoinConfig {
    KubernetesVersion version;
    std::string nodeName;
    std::string apiServerEndpoint;  // host:port, e.g. 10.0.0.5:6443
    std::string token;
    std::vector<std::string> caCertHashes;  // "sha256:<64 hex>", at least one
    Labels nodeLabels;
    std::vector<Taint> nodeTaints;
};

/// containerd's socket, the CRI every node uses.
inline constexpr std::string_view kCriSocket = "unix:///run/containerd/containerd.sock";
/// How long kubeadm waits for the control plane, the kubelet, discovery and the TLS
/// bootstrap: 20 minutes rather than 4-5, for nodes booting under TCG.
inline constexpr std::chrono::minutes kSlowBootTimeout{20};

/// Every field checked; InvalidArgument naming the first bad one.
model::Result<void> validate(const ControlPlaneConfig& config);
model::Result<void> validate(const JoinConfig& config);

/// Three YAML documents, validate(config) first: InitConfiguration (the bootstrap token, the
/// node's registration, and in v1beta4 the timeouts), ClusterConfiguration (version, name,
/// endpoint, networking, API server SANs; in v1beta3 apiServer.timeoutForControlPlane), and a
/// KubeletConfiguration (cgroupDriver: systemd) that kubeadm hands to every node.
model::Result<std::string> initConfiguration(const ControlPlaneConfig& config);

/// One JoinConfiguration document, validate(config) first: bootstrap-token discovery pinned to
/// the CA hashes, the TLS bootstrap token, the node's registration and the discovery timeout
/// (v1beta3 discovery.timeout, v1beta4 timeouts). No KubeletConfiguration: a joining kubelet
/// takes the cluster's.
model::Result<std::string> joinConfiguration(const JoinConfig& config);

/// A duration as Go's time.Duration prints it (metav1.Duration): "24h0m0s", "5m0s", "30s".
std::string goDuration(std::chrono::seconds duration);

}  // namespace gpuhost::kubernetes

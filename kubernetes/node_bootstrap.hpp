#pragma once

// The cloud-init parts that make a machine a Kubernetes node with kubeadm: the first
// control-plane node (the agent's PKI, `kubeadm init`, the CNI) and workers (`kubeadm join`).
// Pure; one text/cloud-config part each, rendered with yaml-cpp. Commands are argv lists; the
// only shell text is a constant step runner that receives every value as a positional argument.
#include <string>
#include <string_view>

#include "kubeadm_config.hpp"
#include "model/error.hpp"
#include "pki.hpp"
#include "seed.hpp"

namespace gpuhost::kubernetes {

struct BootstrapOptions {
    /// Let cloud-init install containerd (Debian's) and kubeadm/kubelet(/kubectl) pinned to
    /// exactly "<version>-<packageRevision>" from `aptSource`, then `apt-mark hold` them, and
    /// configure containerd for the systemd cgroup driver. Off: the image has them (and a
    /// containerd configured for it, with the NVIDIA runtime on GPU images).
    bool installPackages = false;
    /// The apt source line; empty: defaultAptSource(version). "$KEY_FILE" in it is replaced by
    /// cloud-init with the keyring it writes `aptKey` to.
    std::string aptSource;
    /// The repository's ASCII-armored signing key; needed when aptSource names $KEY_FILE.
    std::string aptKey;
    /// pkgs.k8s.io's Debian revision: kubeadm=1.31.2-1.1.
    std::string packageRevision = "1.1";
    /// Applied on the control plane after `kubeadm init` (kubectl apply --filename=...): an
    /// https:// or http:// URL or an absolute path in the guest. Empty: none (no CNI: the
    /// nodes stay NotReady until one is applied).
    std::string cniManifest;
    /// The NVIDIA device plugin's manifest, likewise applied once on the control plane.
    /// Set it when the cluster has a GPU pool; empty: none.
    std::string devicePluginManifest;
};

/// "deb [signed-by=$KEY_FILE] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /" for 1.31.x.
std::string defaultAptSource(const KubernetesVersion& version);

/// An apt source line as the parts carry it: one printable "deb ..." line in which
/// "$KEY_FILE" is the only variable. InvalidArgument naming `field` otherwise.
model::Result<void> checkAptSource(std::string_view source, const std::string& field);
/// A Debian revision like pkgs.k8s.io's "1.1". InvalidArgument naming `field` otherwise.
model::Result<void> checkPackageRevision(std::string_view revision, const std::string& field);

/// Where the parts put kubeadm's configs (0600: they hold the bootstrap token).
inline constexpr std::string_view kInitConfigPath = "/etc/kubernetes/gpuhost/kubeadm.yaml";
inline constexpr std::string_view kJoinConfigPath = "/etc/kubernetes/gpuhost/kubeadm-join.yaml";

/// How the agent follows a part's progress through the guest agent. Each step after the
/// packages runs through the step runner: its output is appended to `log`; a step that fails
/// writes `failed` and every later step is skipped. `done` is written last, only when
/// no step failed; the last runcmd command then also exits non-zero, so `cloud-init status`
/// says error. Neither marker yet: still running (or cloud-init never got there).
struct StepFiles {
    std::string_view log;
    std::string_view done;
    std::string_view failed;
};
inline constexpr StepFiles kInitSteps{"/var/log/gpuhost-kubeadm-init.log",
                                      "/var/lib/gpuhost/kubeadm-init.done",
                                      "/var/lib/gpuhost/kubeadm-init.failed"};
inline constexpr StepFiles kJoinSteps{"/var/log/gpuhost-kubeadm-join.log",
                                      "/var/lib/gpuhost/kubeadm-join.done",
                                      "/var/lib/gpuhost/kubeadm-join.failed"};

/// The first control-plane node's part (gpuhost-kubernetes-control-plane.cfg): the PKI under
/// /etc/kubernetes/pki (keys 0600, certificates 0644), initConfiguration(config) at
/// kInitConfigPath, the kernel modules and sysctls Kubernetes needs; then swapoff, modprobe,
/// sysctl --system, `kubeadm init --config`, the CNI and device plugin manifests when set,
/// and the done marker (kInitSteps). The PEMs are carried, not parsed: each must be printable
/// ASCII text that starts with "-----BEGIN ".
model::Result<cloudinit::Part> controlPlanePart(const ControlPlaneConfig& config, const ClusterPki& pki,
                                                const BootstrapOptions& options = {});

/// A worker's part (gpuhost-kubernetes-worker.cfg): joinConfiguration(config) at
/// kJoinConfigPath, the same host preparation, `kubeadm join --config` and the done marker
/// (kJoinSteps). A GPU worker (`gpu`) also gets the label nvidia.com/gpu.present=true and the
/// taint gpuTaint() through its node registration.
model::Result<cloudinit::Part> workerPart(const JoinConfig& config, bool gpu,
                                          const BootstrapOptions& options = {});

}  // namespace gpuhost::kubernetes

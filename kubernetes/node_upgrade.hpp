#pragma once

// Upgrading a running Kubernetes node in place, as kubeadm's upgrade guide does it: on the
// first control plane `kubeadm upgrade apply`, on every other node `kubeadm upgrade node`,
// each followed by the kubelet of the new version and its restart. Pure: the agent writes
// the runner script and (when it installs packages) an apt source for the new minor release
// through the guest agent, then starts the runner as a transient systemd unit so the upgrade
// outlives any one guest-agent command; it follows the markers, as for the bootstrap.
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"
#include "node_bootstrap.hpp"
#include "version.hpp"

namespace gpuhost::kubernetes {

enum class UpgradeMode {
    FirstControlPlane,  // kubeadm upgrade apply: the control plane's static pods, addons, config
    Node,               // kubeadm upgrade node: this node's kubelet config (and manifests if any)
};

/// Where one node's upgrade to a version leaves its traces; per version, so the next minor
/// step starts clean. `unit` is the transient systemd unit that runs it.
struct UpgradeFiles {
    std::string log;
    std::string done;
    std::string failed;
    std::string unit;
};
UpgradeFiles upgradeFiles(const KubernetesVersion& version);

inline constexpr std::string_view kUpgradeRunnerPath = "/usr/local/sbin/gpuhost-kubernetes-upgrade";
/// Where the apt source of the version being installed goes (when packages are installed).
inline constexpr std::string_view kUpgradeAptListPath =
    "/etc/apt/sources.list.d/gpuhost-kubernetes-upgrade.list";
/// cloud-init's keyring for the part's "kubernetes" apt source: "$KEY_FILE" in a source line.
inline constexpr std::string_view kAptKeyFile = "/etc/apt/cloud-init.gpg.d/kubernetes.gpg";

/// The runner (0755 at kUpgradeRunnerPath): constant shell text that receives every value
/// as a positional argument: MODE VERSION REVISION FAILED DONE LOG. It exits at once when
/// FAILED or DONE exists; otherwise each step's output goes to LOG, a failing step writes
/// FAILED and stops the rest, and DONE is written last.
std::string_view upgradeRunnerScript();

/// The apt source line for installing `version` (the configured one, or pkgs.k8s.io's for
/// its minor release) with "$KEY_FILE" resolved, and a trailing newline; "" when the image
/// carries the binaries (options.installPackages off). InvalidArgument naming the option.
model::Result<std::string> upgradeAptList(const KubernetesVersion& version, const BootstrapOptions& options);

/// The command that starts the runner in the guest: systemd-run with the unit from
/// upgradeFiles, so it runs detached from the guest agent and at most once at a time.
model::Result<std::vector<std::string>> upgradeLaunch(UpgradeMode mode, const KubernetesVersion& version,
                                                      const BootstrapOptions& options);

}  // namespace gpuhost::kubernetes

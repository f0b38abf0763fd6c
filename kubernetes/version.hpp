#pragma once

// Kubernetes release versions as a cluster names them ("1.31.2"), and what follows from one:
// which kubeadm configuration API it reads, and which upgrades kubeadm allows from it.
#include <compare>
#include <string>
#include <string_view>

#include "model/error.hpp"

namespace gpuhost::kubernetes {

/// A released Kubernetes version: no pre-release or build suffixes.
struct KubernetesVersion {
    unsigned major = 0;
    unsigned minor = 0;
    unsigned patch = 0;

    /// "1.31.2": the form the API uses and pkgs.k8s.io's package versions start with.
    std::string text() const;
    /// "v1.31.2": the form kubeadm's kubernetesVersion and `kubectl version` use.
    std::string tag() const;

    auto operator<=>(const KubernetesVersion&) const = default;
};

/// Accepts "1.32.5" and "v1.32.5" only: three decimal components without leading zeros, each
/// at most 4 digits. InvalidArgument naming `field` otherwise.
model::Result<KubernetesVersion> parseKubernetesVersion(std::string_view text, const std::string& field);

/// The oldest release this library bootstraps: kubeadm.k8s.io/v1beta3 appeared in 1.22.
inline constexpr KubernetesVersion kOldestSupported{1, 22, 0};
/// The first release whose kubeadm reads kubeadm.k8s.io/v1beta4 without a flag (1.31).
inline constexpr KubernetesVersion kFirstV1beta4{1, 31, 0};

/// "kubeadm.k8s.io/v1beta3" for 1.22-1.30, "kubeadm.k8s.io/v1beta4" from 1.31 (1.37 drops
/// v1beta3; 1.28-1.30 accept v1beta4 only with --allow-experimental-api). InvalidArgument
/// naming `field` for anything older than 1.22 or a major version other than 1.
model::Result<std::string_view> kubeadmApiVersion(const KubernetesVersion& version,
                                                  const std::string& field = "version");

/// Whether kubeadm can upgrade `from` to `to` in one step: same major, no downgrade, at most
/// one minor release ahead (any patch). Equal versions are fine: the caller's no-op.
model::Result<void> checkUpgradeStep(const KubernetesVersion& from, const KubernetesVersion& to,
                                     const std::string& field);

}  // namespace gpuhost::kubernetes

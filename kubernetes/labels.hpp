#pragma once

// Node labels and taints with Kubernetes' own syntax rules, checked before they reach a
// kubeadm config: a bad one would make the kubelet refuse to start long after the seed
// was written.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::kubernetes {

using Labels = std::map<std::string, std::string>;

/// A node taint (corev1.Taint without timeAdded, which the control plane sets).
struct Taint {
    std::string key;
    std::string value;
    std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute

    bool operator==(const Taint&) const = default;
};

/// What GPU pools get: the label a scheduler can select on and the taint that keeps other
/// pods away (the NVIDIA device plugin's DaemonSet tolerates key nvidia.com/gpu).
inline constexpr std::string_view kGpuPresentLabel = "nvidia.com/gpu.present";
Taint gpuTaint();  // nvidia.com/gpu=present:NoSchedule

/// A qualified name: an optional DNS-subdomain prefix and '/', then 1-63 of [A-Za-z0-9-_.]
/// starting and ending alphanumeric.
model::Result<void> validateLabelKey(std::string_view key, const std::string& field);
/// Empty, or 1-63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
model::Result<void> validateLabelValue(std::string_view value, const std::string& field);

/// Labels a kubelet may give its own node (--node-labels): valid keys and values, and none in
/// the kubernetes.io / k8s.io namespaces except node.kubernetes.io, kubelet.kubernetes.io and
/// the well-known ones the kubelet sets itself; the kubelet refuses to start otherwise.
/// At most 64 labels. Errors name `field` + "[key]".
model::Result<void> validateNodeLabels(const Labels& labels, const std::string& field);

/// Valid keys, values and effects, each key+effect once, at most 32. Errors name `field` + "[i]".
model::Result<void> validateTaints(const std::vector<Taint>& taints, const std::string& field);

/// "key=value,key=value" for the kubelet's --node-labels (sorted by key; validated labels never
/// hold ',' or '=').
std::string nodeLabelsArgument(const Labels& labels);

/// RFC 1123 DNS subdomain, as Kubernetes checks node and cluster names: 1-253 characters,
/// dot-separated labels of [a-z0-9-] (1-63, alphanumeric at both ends).
bool isDnsSubdomain(std::string_view name);

}  // namespace gpuhost::kubernetes

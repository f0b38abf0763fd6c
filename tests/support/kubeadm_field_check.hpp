#pragma once

// A strict checker for generated kubeadm configs, standing in for `kubeadm config validate`
// (no kubeadm here): each YAML document must be a kind of an API version the release reads,
// and every key at every depth a field of that type, with a value of the field's kind. The
// fields come from tests/fixtures/kubernetes/: kubeadm-fields-v1beta{3,4}.json (transcribed
// from kubeadm's types.go) and kubelet-config-fields.json (derived from kubelet-config-fields.md;
// top-level KubeletConfiguration fields only, with the release that added each).
#include <string>
#include <vector>

#include "version.hpp"

namespace gpuhost::test {

struct KubeadmFieldCheck {
    std::vector<std::string> kinds;  // each document's kind, in order
    std::vector<std::string>
        problems;  // "doc 1 (ClusterConfiguration) apiServer.extraArgs: ..."; empty: passes
};

/// Checks `yaml` as kubeadm `version` would read it. A string field given a plain scalar that
/// YAML 1.1 reads as a bool, number or null is a problem (kubeadm converts YAML to JSON first),
/// as are unknown, misplaced, wrongly-cased and duplicate keys.
KubeadmFieldCheck checkKubeadmFields(const std::string& yaml, const kubernetes::KubernetesVersion& version);

}  // namespace gpuhost::test

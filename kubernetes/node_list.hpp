#pragma once

// The cluster's nodes as the control plane reports them: `kubectl get nodes -o json` (kind
// List) or the API server's GET /api/v1/nodes (kind NodeList). Pure; the text comes from the
// guest agent, so it is untrusted: nothing here throws or crashes on it.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "labels.hpp"
#include "model/error.hpp"

namespace gpuhost::kubernetes {

struct NodeCondition {
    std::string type;    // Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable, ...
    std::string status;  // True | False | Unknown
    std::string lastHeartbeatTime;
    std::string lastTransitionTime;
    std::string reason;
    std::string message;

    bool operator==(const NodeCondition&) const = default;
};

/// A node's GPUs, from NVIDIA GPU Feature Discovery's labels and the device plugin's resource.
struct Accelerator {
    std::string type = "nvidia";
    std::string product;        // nvidia.com/gpu.product, e.g. NVIDIA-H100-80GB-HBM3; may be empty
    std::string driverVersion;  // e.g. 580.95.05; may be empty
    unsigned count = 0;         // capacity nvidia.com/gpu, else the nvidia.com/gpu.count label

    bool operator==(const Accelerator&) const = default;
};

struct NodeState {
    std::string name;
    /// From the Ready condition: "Ready" (True), "NotReady" (False: the kubelet says so) or
    /// "Unknown" (Unknown: the kubelet stopped reporting, or no Ready condition yet); kubectl
    /// prints NotReady for both of the last two.
    std::string state;
    /// spec.unschedulable (cordoned): kubectl's ",SchedulingDisabled"; see statusText().
    bool unschedulable = false;
    std::string kubeletVersion;  // e.g. v1.35.2
    std::string createdAt;       // metadata.creationTimestamp (RFC 3339)
    std::string internalIP;      // first InternalIP address; empty when none
    std::string externalIP;      // first ExternalIP address; empty when none
    std::vector<NodeCondition> conditions;
    std::optional<Accelerator> accelerator;  // when the node has NVIDIA GPUs
    Labels labels;
    std::vector<Taint> taints;

    /// kubectl's STATUS column: state, plus ",SchedulingDisabled" when unschedulable.
    std::string statusText() const;
    /// The condition of that type, or nullptr.
    const NodeCondition* condition(std::string_view type) const;
};

/// Parses a List or NodeList. Internal (the control plane's output is not what it should be)
/// when the text is not JSON, not an object of one of those kinds, has no `items` array, or an
/// item is not a Node with a string metadata.name. Optional members that are missing or of
/// the wrong type read as empty.
model::Result<std::vector<NodeState>> parseNodeList(std::string_view json);

}  // namespace gpuhost::kubernetes

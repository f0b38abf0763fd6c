#pragma once

// The Kubernetes kind's durable progress (ClusterEntry::kindState): the join token the agent
// registered, and where the cluster's version stands. A JSON document in the store.
#include <cstdint>
#include <string>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::agent {

struct KubernetesProgress {
    std::string token;               // the bootstrap token new workers join with
    std::int64_t tokenIssuedAt = 0;  // unix seconds; the token lives KubernetesOptions::tokenTtl from then
    /// The version the control plane was set up with (kubeadm init) or last upgraded to;
    /// the cluster's spec version differs while an upgrade rolls.
    std::string controlPlaneVersion;
    /// The nodes the roll has finished (the control plane first). A worker the API server
    /// lists on the spec's version, Ready and schedulable, needs nothing and need not be here.
    std::vector<std::string> upgradedNodes;
    /// The owner's asks to retry a stopped roll (Cluster::rollRetries) already served.
    unsigned rollRetriesSeen = 0;
    /// The node whose failed upgrade is retried next: its failed marker is removed (then
    /// retryMarkerRemoved) and its upgrade started again, each step stored before the next.
    std::string retryNode;
    bool retryMarkerRemoved = false;
    /// The node whose failed upgrade stopped the roll ("" while it moves).
    std::string stoppedOn;

    bool operator==(const KubernetesProgress&) const = default;
};

std::string serializeProgress(const KubernetesProgress& progress);
/// Internal when the stored text is not what serializeProgress wrote.
model::Result<KubernetesProgress> parseProgress(const std::string& text);

}  // namespace gpuhost::agent

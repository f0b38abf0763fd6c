#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <vector>

#include "services/cluster_kind.hpp"
#include "services/kubernetes_guest.hpp"

namespace gpuhost::agent {

/// A Kubernetes cluster's nodes as its API server sees them, read and changed with kubectl
/// on the control plane through the guest agent (this works where the agent cannot route to
/// the VM network): their states for the status, ghost nodes removed, leaving nodes cordoned,
/// drained and deleted before their VMs go.
class KubernetesNodes {
  public:
    KubernetesNodes(const KubernetesGuest& guest, std::chrono::seconds drainTimeout)
        : guest_(guest), drainTimeout_(drainTimeout) {}

    /// `kubectl get nodes -o json`, mapped; a node object with no member is deleted (a ghost).
    /// Unavailable until the API server answers.
    boost::asio::awaitable<model::Result<SchedulerReport>> observe(const ClusterState& cluster) const;
    /// Cordon, drain, delete each of `leaving` that the API server lists. True once none of
    /// them is listed; false while one does not drain yet (it stays cordoned).
    boost::asio::awaitable<model::Result<bool>> retire(const ClusterState& cluster,
                                                       const std::vector<model::Instance>& leaving) const;

  private:
    const KubernetesGuest& guest_;
    std::chrono::seconds drainTimeout_;
};

}  // namespace gpuhost::agent

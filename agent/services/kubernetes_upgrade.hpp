#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "node_upgrade.hpp"
#include "services/cluster_kind.hpp"
#include "services/kubernetes_guest.hpp"
#include "services/kubernetes_progress.hpp"

namespace gpuhost::agent {

/// What one pass of the roll did.
struct RollPass {
    std::optional<StepOutcome> outcome;  // nullopt: nothing to roll, every node is on the spec's version
    bool progressChanged = false;        // the progress passed in moved: store it
};

/// Rolls a Kubernetes cluster to its spec's version, as kubeadm's upgrade guide does, one node
/// at a time: the control plane first (`kubeadm upgrade apply`), then each worker in name
/// order: cordon, drain, `kubeadm upgrade node`, the kubelet, uncordon. Each node's upgrade
/// runs detached in its guest (a transient systemd unit started through the guest agent)
/// and is followed through its markers; where the roll stands (the control plane's version,
/// the workers done) is KubernetesProgress, stored before the next node starts, so a
/// restarted agent resumes it. A node whose upgrade failed stops the roll: the cluster shows
/// ERROR with the end of that node's log, and the roll goes on once the failed marker is gone:
/// removed by hand, or by the agent when the owner asks for the version again (a retry).
class KubernetesUpgrade {
  public:
    /// `failedRecheck`: how long a stopped roll waits before it looks at the failed node again.
    KubernetesUpgrade(const KubernetesGuest& guest, std::chrono::seconds drainTimeout,
                      std::chrono::milliseconds failedRecheck)
        : guest_(guest), drainTimeout_(drainTimeout), failedRecheck_(failedRecheck) {}

    /// One pass; `progress` is updated in place (see RollPass::progressChanged).
    boost::asio::awaitable<RollPass> step(const ClusterState& cluster, KubernetesProgress& progress,
                                          const kubernetes::BootstrapOptions& options) const;

    /// Whether the cluster is between versions (for its status).
    static bool rolling(const model::Cluster& cluster, const KubernetesProgress& progress) {
        return progress.controlPlaneVersion != cluster.version || !progress.upgradedNodes.empty();
    }

  private:
    enum class NodeState { Running, Done, Failed, NotStarted };
    struct NodeResult {
        NodeState state = NodeState::Running;
        std::string logTail;
    };

    /// Follows (or, with `mayStart`, starts) one node's upgrade. `controlPlane` is where kubectl
    /// runs; a worker is cordoned and drained before its upgrade starts.
    boost::asio::awaitable<model::Result<NodeResult>> advance(
        const ClusterState& cluster, const model::Instance& member, const model::Instance& controlPlane,
        kubernetes::UpgradeMode mode, const kubernetes::KubernetesVersion& version,
        const kubernetes::BootstrapOptions& options, bool mayStart = true) const;
    /// advance() on the node the roll is at, serving the owner's asks to retry (Cluster::
    /// rollRetries): a failed node is retried in three stored passes (the ask taken with the
    /// node, its failed marker removed, its upgrade started). `changed`: `progress` moved.
    boost::asio::awaitable<model::Result<NodeResult>> follow(
        const ClusterState& cluster, KubernetesProgress& progress, bool& changed,
        const model::Instance& member, const model::Instance& controlPlane, kubernetes::UpgradeMode mode,
        const kubernetes::KubernetesVersion& version, const kubernetes::BootstrapOptions& options,
        bool mayStart = true) const;
    /// What the roll waits for on a node (its error, its failure, its run); nullopt once there
    /// is nothing to wait for.
    std::optional<StepOutcome> unfinished(const model::Result<NodeResult>& result,
                                          const std::string& step) const;
    /// Cordon and drain a worker before its upgrade.
    boost::asio::awaitable<model::Result<void>> evacuate(const ClusterState& cluster,
                                                         const model::Instance& controlPlane,
                                                         const std::string& node) const;

    const KubernetesGuest& guest_;
    std::chrono::seconds drainTimeout_;
    std::chrono::milliseconds failedRecheck_;
};

}  // namespace gpuhost::agent

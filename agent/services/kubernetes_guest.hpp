#pragma once

// What the Kubernetes kind runs in its members' guests, shared by the bootstrap, the node
// observer and the upgrade roll: kubectl on the control plane with kubeadm's admin
// kubeconfig, and the step markers and logs the node parts and the upgrade runner leave.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "services/cluster_kind.hpp"

namespace gpuhost::agent {

class KubernetesGuest {
  public:
    explicit KubernetesGuest(std::chrono::milliseconds commandTimeout) : timeout_(commandTimeout) {}

    std::chrono::milliseconds timeout() const { return timeout_; }

    /// kubectl with the admin kubeconfig kubeadm wrote on the control plane: its stdout.
    boost::asio::awaitable<model::Result<std::string>> kubectl(const ClusterState& cluster,
                                                               const model::Instance& controlPlane,
                                                               std::vector<std::string> args) const {
        return kubectlFor(cluster, controlPlane, std::move(args), timeout_);
    }
    boost::asio::awaitable<model::Result<std::string>> kubectlFor(const ClusterState& cluster,
                                                                  const model::Instance& controlPlane,
                                                                  std::vector<std::string> args,
                                                                  std::chrono::milliseconds timeout) const;

    /// Whether a marker file exists in the member's guest (Unavailable while it does not answer).
    boost::asio::awaitable<model::Result<bool>> exists(const ClusterState& cluster,
                                                       const model::Instance& member,
                                                       std::string_view path) const;

    /// The end of a step log, for a failure's details.
    boost::asio::awaitable<std::string> logTail(const ClusterState& cluster, const model::Instance& member,
                                                std::string_view path) const;

  private:
    std::chrono::milliseconds timeout_;
};

inline constexpr std::string_view kControlPlaneRole = "control-plane";
/// The Kubernetes node name of a member: "control-plane", or "<pool>-<index>".
std::string kubernetesNodeName(const model::InstanceOwner& owner);
/// Names we may hand to kubectl as an argument (ours are <pool>-<index>).
bool isSafeNodeName(std::string_view name);

/// kubeadm's admin kubeconfig on the control plane.
inline const std::string kAdminConf = "/etc/kubernetes/admin.conf";

}  // namespace gpuhost::agent

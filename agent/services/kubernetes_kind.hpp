#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "node_bootstrap.hpp"
#include "pki.hpp"
#include "services/catalog.hpp"
#include "services/cluster_kind.hpp"
#include "services/kubernetes_guest.hpp"
#include "services/kubernetes_nodes.hpp"
#include "services/kubernetes_progress.hpp"
#include "services/kubernetes_upgrade.hpp"

namespace gpuhost::agent {

/// How this region runs Kubernetes (config: `kubernetes:`).
struct KubernetesOptions {
    std::string image = "image://debian12-kubernetes";
    std::vector<std::string> versions = {"1.30", "1.31", "1.32", "1.33"};  // the minor lines offered
    std::string defaultVersion = "1.31.2";
    std::string podCidr = "10.244.0.0/16";
    std::string serviceCidr = "10.96.0.0/12";
    std::vector<std::string> reservedCidrs = {
        "192.168.122.0/24"};  // the VM network(s): never pod or service blocks
    std::chrono::hours caValidity{24 * 365 * 10};
    std::chrono::hours kubeconfigValidity{24 * 365};
    std::chrono::seconds tokenTtl{std::chrono::hours(24)};
    kubernetes::BootstrapOptions bootstrap;
    std::chrono::milliseconds commandTimeout{60 * 1000};
    std::chrono::seconds drainTimeout{120};
    std::chrono::milliseconds failedRollRecheck{60 * 1000};  // a stopped upgrade looks again after this
};

/// Kubernetes on the cluster core: a control-plane VM that runs `kubeadm init` from its
/// first-boot part with the PKI the agent made (so the agent can sign kubeconfigs and pin the
/// CA hash), and worker VMs in pools that `kubeadm join` with a bootstrap token the agent
/// registers and renews. Node states come from `kubectl get nodes -o json` run on the
/// control plane through the guest agent; nodes leave by cordon, drain and `kubectl delete
/// node`, then their VM goes. A version change rolls through KubernetesUpgrade.
class KubernetesKind final : public ClusterKindDriver {
  public:
    KubernetesKind(const Catalog& catalog, KubernetesOptions options);

    model::ClusterKind kind() const override { return model::ClusterKind::Kubernetes; }
    std::string defaultVersion() const override { return options_.defaultVersion; }
    model::Result<std::string> newSecret() const override;
    model::Result<std::string> newKindState(const model::Cluster& cluster) const override;
    void applyDefaults(model::Cluster& cluster) const override;
    model::Result<void> validate(const model::Cluster& cluster) const override;
    model::Result<void> validateChange(const ClusterEntry& before,
                                       const model::Cluster& after) const override;
    bool upgrading(const ClusterState& cluster) const override;
    bool upgradeStopped(const ClusterEntry& entry) const override;
    std::string image() const override { return options_.image; }
    std::string_view registry() const override { return "the API server"; }
    std::vector<RoleSlot> roles(const model::Cluster& cluster) const override;
    std::string nodeName(const model::InstanceOwner& owner) const override;
    void forget(const model::Uuid& cluster) override;
    void describe(const ClusterState& cluster, model::ClusterView& view) const override;
    model::Result<std::string> clientConfig(const ClusterState& cluster) const override;

    model::Result<std::optional<cloudinit::Part>> bootstrapPart(const ClusterState& cluster,
                                                                const model::Instance& member) const override;
    boost::asio::awaitable<StepOutcome> bootstrap(const ClusterState& cluster) override;
    boost::asio::awaitable<model::Result<SchedulerReport>> observe(const ClusterState& cluster) override;
    boost::asio::awaitable<model::Result<bool>> retire(const ClusterState& cluster,
                                                       const std::vector<model::Instance>& leaving) override;

  private:
    /// The cluster's PKI, parsed once per cluster (parsing checks every key).
    model::Result<kubernetes::ClusterPki> pkiOf(const ClusterEntry& entry) const;
    kubernetes::BootstrapOptions bootstrapOptions(const model::Cluster& cluster) const;
    /// A fresh token registered with `kubeadm token create` once half the old one's life is gone.
    boost::asio::awaitable<model::Result<std::optional<KubernetesProgress>>> renewToken(
        const ClusterState& cluster, const model::Instance& controlPlane, KubernetesProgress progress) const;

    const Catalog& catalog_;
    KubernetesOptions options_;
    KubernetesGuest guest_;
    KubernetesUpgrade upgrade_;
    KubernetesNodes nodes_;
    mutable std::mutex mutex_;
    mutable std::map<model::Uuid, kubernetes::ClusterPki> pkis_;
};

}  // namespace gpuhost::agent

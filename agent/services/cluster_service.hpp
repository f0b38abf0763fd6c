#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/cluster.hpp"

namespace gpuhost::agent {

/// What a user asks for when creating a cluster (the API has checked shapes and types;
/// the service checks names, counts, types against the catalog, and capacity).
struct CreateCluster {
    std::string name;
    std::string version;         // empty: the kind's default
    std::string controllerType;  // empty: the configured default
    unsigned loginCount = 0;
    std::string loginType;  // empty with loginCount > 0: the controller's type
    std::vector<model::ClusterPool> pools;
    std::optional<model::KubernetesNetwork> network;  // Kubernetes: checked CIDRs
};

/// Clusters of every kind, as the API asks for them. Each call names the kind it is made
/// for: a Slurm route never sees a Kubernetes cluster (404, as for another project's).
/// Changes are durable before they return; the work they cause runs on the cluster's key
/// of the cluster work queue.
class ClusterApi {
  public:
    virtual ~ClusterApi() = default;

    /// Whether this daemon has the kind's driver: the API answers 501 on every route of a kind
    /// it lacks, and /capabilities leaves the kind out.
    virtual bool offers(model::ClusterKind kind) const = 0;

    /// 201: the cluster in PENDING (or OUT_OF_STOCK when its machines do not fit as a group).
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> create(const model::Uuid& project,
                                                                             model::ClusterKind kind,
                                                                             CreateCluster request) = 0;
    virtual model::Result<model::ClusterView> get(const model::Uuid& project, model::ClusterKind kind,
                                                  const model::Uuid& id) const = 0;
    virtual std::vector<model::ClusterView> list(const model::Uuid& project,
                                                 model::ClusterKind kind) const = 0;
    /// Marks it deleting (durable); GET shows DELETING until every VM is gone, then 404.
    virtual boost::asio::awaitable<model::Result<void>> remove(const model::Uuid& project,
                                                               model::ClusterKind kind,
                                                               const model::Uuid& id) = 0;

    /// A new version (an upgrade, when the kind allows it): the roll runs in the cluster's jobs.
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> upgrade(const model::Uuid& project,
                                                                              model::ClusterKind kind,
                                                                              const model::Uuid& id,
                                                                              std::string version) = 0;
    /// A client configuration (Kubernetes: an admin kubeconfig); Unavailable until the
    /// cluster has the address it names.
    virtual model::Result<std::string> clientConfig(const model::Uuid& project, model::ClusterKind kind,
                                                    const model::Uuid& id) const = 0;

    /// Node pools. Conflict while the cluster is deleting; NotFound for an unknown pool.
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> addPool(const model::Uuid& project,
                                                                              model::ClusterKind kind,
                                                                              const model::Uuid& id,
                                                                              model::ClusterPool pool) = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> scalePool(const model::Uuid& project,
                                                                                model::ClusterKind kind,
                                                                                const model::Uuid& id,
                                                                                std::string pool,
                                                                                unsigned count) = 0;
    virtual boost::asio::awaitable<model::Result<void>> removePool(const model::Uuid& project,
                                                                   model::ClusterKind kind,
                                                                   const model::Uuid& id,
                                                                   std::string pool) = 0;

    /// Users of the cluster's nodes (Slurm). add: Conflict when the name is taken.
    virtual model::Result<std::vector<model::ClusterUserView>> users(const model::Uuid& project,
                                                                     model::ClusterKind kind,
                                                                     const model::Uuid& id) const = 0;
    virtual model::Result<model::ClusterUserView> user(const model::Uuid& project, model::ClusterKind kind,
                                                       const model::Uuid& id,
                                                       const std::string& username) const = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterUserView>> addUser(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id,
        model::ClusterUser user) = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterUserView>> updateUser(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id, std::string username,
        model::ClusterUserUpdate update) = 0;
    virtual boost::asio::awaitable<model::Result<void>> removeUser(const model::Uuid& project,
                                                                   model::ClusterKind kind,
                                                                   const model::Uuid& id,
                                                                   std::string username) = 0;
};

}  // namespace gpuhost::agent

#include "blocking_pool.hpp"
#include "metrics.hpp"
#include "services/catalog.hpp"
#include "services/cluster_controller.hpp"
#include "services/cluster_options.hpp"
#include "services/cluster_table.hpp"
#include "services/cluster_views.hpp"
#include "services/instance_service.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// The ClusterApi over the cluster table, the store and the instance machinery: it checks
/// and records the spec (durable before it answers) and hands the work to the controller.
class ClusterService final : public ClusterApi {
  public:
    ClusterService(ClusterTable& table, ClusterController& controller, ClusterStore& store,
                   BlockingPool& storePool, const Catalog& catalog, const InstanceService& instances,
                   const ClusterOptions& options);

    bool offers(model::ClusterKind kind) const override;
    boost::asio::awaitable<model::Result<model::ClusterView>> create(const model::Uuid& project,
                                                                     model::ClusterKind kind,
                                                                     CreateCluster request) override;
    model::Result<model::ClusterView> get(const model::Uuid& project, model::ClusterKind kind,
                                          const model::Uuid& id) const override;
    std::vector<model::ClusterView> list(const model::Uuid& project, model::ClusterKind kind) const override;
    boost::asio::awaitable<model::Result<void>> remove(const model::Uuid& project, model::ClusterKind kind,
                                                       const model::Uuid& id) override;

    boost::asio::awaitable<model::Result<model::ClusterView>> upgrade(const model::Uuid& project,
                                                                      model::ClusterKind kind,
                                                                      const model::Uuid& id,
                                                                      std::string version) override;
    model::Result<std::string> clientConfig(const model::Uuid& project, model::ClusterKind kind,
                                            const model::Uuid& id) const override;
    boost::asio::awaitable<model::Result<model::ClusterView>> addPool(const model::Uuid& project,
                                                                      model::ClusterKind kind,
                                                                      const model::Uuid& id,
                                                                      model::ClusterPool pool) override;
    boost::asio::awaitable<model::Result<model::ClusterView>> scalePool(const model::Uuid& project,
                                                                        model::ClusterKind kind,
                                                                        const model::Uuid& id,
                                                                        std::string pool,
                                                                        unsigned count) override;
    boost::asio::awaitable<model::Result<void>> removePool(const model::Uuid& project,
                                                           model::ClusterKind kind, const model::Uuid& id,
                                                           std::string pool) override;

    model::Result<std::vector<model::ClusterUserView>> users(const model::Uuid& project,
                                                             model::ClusterKind kind,
                                                             const model::Uuid& id) const override;
    model::Result<model::ClusterUserView> user(const model::Uuid& project, model::ClusterKind kind,
                                               const model::Uuid& id,
                                               const std::string& username) const override;
    boost::asio::awaitable<model::Result<model::ClusterUserView>> addUser(const model::Uuid& project,
                                                                          model::ClusterKind kind,
                                                                          const model::Uuid& id,
                                                                          model::ClusterUser user) override;
    boost::asio::awaitable<model::Result<model::ClusterUserView>> updateUser(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id, std::string username,
        model::ClusterUserUpdate update) override;
    boost::asio::awaitable<model::Result<void>> removeUser(const model::Uuid& project,
                                                           model::ClusterKind kind, const model::Uuid& id,
                                                           std::string username) override;

    /// Clusters per kind and status, for /metrics (kind "slurm_cluster", state "ready", ...).
    std::vector<ResourceCount> countByPhase() const;

  private:
    /// The cluster as `project` may see it through a route of `kind` (NotFound otherwise).
    model::Result<ClusterEntry> visible(const model::Uuid& project, model::ClusterKind kind,
                                        const model::Uuid& id) const;
    /// Checks a spec against the catalog, the limits and the kind (errors name the field).
    model::Result<void> checkSpec(const model::Cluster& cluster, const ClusterKindDriver& kind) const;
    /// QuotaExceeded when going from `before` (nullptr: nothing) to `after` adds more VMs than
    /// the project's instance quota leaves room for beside the `used` it has.
    model::Result<void> checkInstanceRoom(const model::Uuid& project, const model::Cluster* before,
                                          const model::Cluster& after, const ClusterKindDriver& kind,
                                          std::size_t used) const;
    /// Applies `edit` to the stored spec (durable, then in memory) and schedules `jobs`.
    /// One change per cluster at a time: a second one meanwhile is a Conflict.
    boost::asio::awaitable<model::Result<model::Cluster>> change(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id,
        std::function<model::Result<void>(model::Cluster&)> edit, unsigned jobs);
    model::Result<model::ClusterView> viewNow(const model::Uuid& id) const;
    model::ClusterUserView userView(const ClusterEntry& entry, const model::ClusterUser& user) const;

    ClusterTable& table_;
    ClusterController& controller_;
    ClusterStore& store_;
    BlockingPool& storePool_;
    const Catalog& catalog_;
    const InstanceService& instances_;
    const ClusterOptions& options_;
    std::set<model::Uuid> changing_;  // guarded by the table's lock
};

}  // namespace gpuhost::agent

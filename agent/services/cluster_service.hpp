#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
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
};

/// Clusters of every kind, as the API asks for them. Each call names the kind it is made
/// for: a Slurm route never sees a Kubernetes cluster (404, as for another project's).
/// Changes are durable before they return; the work they cause runs on the cluster's key
/// of the cluster work queue.
class ClusterApi {
  public:
    virtual ~ClusterApi() = default;

    /// 201: the cluster in PENDING (or OUT_OF_STOCK when its machines do not fit as a group).
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> create(const model::Uuid& project,
                                                                             model::ClusterKind kind,
                                                                             CreateCluster request) = 0;
    virtual model::Result<model::ClusterView> get(const model::Uuid& project, model::ClusterKind kind,
                                                  const model::Uuid& id) const = 0;
    virtual std::vector<model::ClusterView> list(const model::Uuid& project, model::ClusterKind kind) const = 0;
    /// Marks it deleting (durable); GET shows DELETING until every VM is gone, then 404.
    virtual boost::asio::awaitable<model::Result<void>> remove(const model::Uuid& project, model::ClusterKind kind,
                                                               const model::Uuid& id) = 0;

    /// Node pools. Conflict while the cluster is deleting; NotFound for an unknown pool.
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> addPool(const model::Uuid& project,
                                                                              model::ClusterKind kind,
                                                                              const model::Uuid& id,
                                                                              model::ClusterPool pool) = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterView>> scalePool(const model::Uuid& project,
                                                                                model::ClusterKind kind,
                                                                                const model::Uuid& id,
                                                                                std::string pool, unsigned count) = 0;
    virtual boost::asio::awaitable<model::Result<void>> removePool(const model::Uuid& project,
                                                                   model::ClusterKind kind, const model::Uuid& id,
                                                                   std::string pool) = 0;

    /// Users of the cluster's nodes (Slurm). add: Conflict when the name is taken.
    virtual model::Result<std::vector<model::ClusterUserView>> users(const model::Uuid& project,
                                                                     model::ClusterKind kind,
                                                                     const model::Uuid& id) const = 0;
    virtual model::Result<model::ClusterUserView> user(const model::Uuid& project, model::ClusterKind kind,
                                                       const model::Uuid& id, const std::string& username) const = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterUserView>> addUser(const model::Uuid& project,
                                                                                  model::ClusterKind kind,
                                                                                  const model::Uuid& id,
                                                                                  model::ClusterUser user) = 0;
    virtual boost::asio::awaitable<model::Result<model::ClusterUserView>> updateUser(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id, std::string username,
        model::ClusterUserUpdate update) = 0;
    virtual boost::asio::awaitable<model::Result<void>> removeUser(const model::Uuid& project,
                                                                   model::ClusterKind kind, const model::Uuid& id,
                                                                   std::string username) = 0;
};

}  // namespace gpuhost::agent

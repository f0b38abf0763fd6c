#pragma once

// The routes every cluster kind has (clusters and their node pools), written once and bound
// to a kind by a ClusterRoutes: its parsers and its JSON. The kind's own handlers file
// forwards to these and adds what only it has (Slurm's users, Kubernetes' upgrade and
// kubeconfig).
#include <nlohmann/json.hpp>

#include "handlers/handlers.hpp"
#include "services/cluster_service.hpp"

namespace gpuhost::api::handlers {

struct ClusterRoutes {
    model::ClusterKind kind;
    model::Result<agent::CreateCluster> (*parseCreate)(const nlohmann::json& body);
    model::Result<model::ClusterPool> (*parsePool)(const nlohmann::json& body);
    nlohmann::json (*clusterJson)(const model::ClusterView& view);
    nlohmann::json (*poolJson)(const model::ClusterPoolView& pool, const model::Uuid& clusterId);
    /// How the create body names what the service's error names in the spec (null: the same).
    model::Error (*createError)(model::Error error) = nullptr;
};

/// The cluster service; NotImplemented (501) in a daemon built without it (the request
/// handler answers so before a handler runs: see implemented()).
model::Result<agent::ClusterApi*> clusterService(ApiContext& ctx);

/// The cluster service and the {id} of the route, or the error that ends the call.
struct ClusterTarget {
    agent::ClusterApi* clusters;
    model::Uuid id;
};

/// Another project's cluster, one of another kind or an unknown one is a 404 before anything
/// else of the request is looked at, so the answer never depends on whether the id exists
/// elsewhere.
model::Result<ClusterTarget> clusterTarget(ApiContext& ctx, const Call& call, model::ClusterKind kind);

/// The {pool} of the route (400 naming "pool" unless a resource name).
model::Result<std::string> pathPool(const Call& call);

Reply noContent();

Awaitable createCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable listClusters(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable getCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable deleteCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable listClusterPools(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable getClusterPool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
/// Every pool of every cluster of the kind in the project.
Awaitable listPools(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
/// 201 with the pool.
Awaitable addPool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
/// 202 with the pool as asked for: nodes come and go after the reply.
Awaitable scalePool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);
Awaitable removePool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes);

}  // namespace gpuhost::api::handlers

#pragma once

#include "api_context.hpp"
#include "model/validation.hpp"
#include "router.hpp"

// Handlers: parse and validate the call, ask a service, shape the reply. ~25 lines each.
namespace gpuhost::api::handlers {

using Awaitable = boost::asio::awaitable<model::Result<Reply>>;

/// The {id} of the route as a UUID (400 naming "id" otherwise).
inline model::Result<model::Uuid> pathId(const Call& call) {
    return model::parseUuidField(call.params.at("id"), "id");
}

Awaitable createProject(ApiContext& ctx, const Call& call);
Awaitable listProjects(ApiContext& ctx, const Call& call);
Awaitable getProject(ApiContext& ctx, const Call& call);
Awaitable deleteProject(ApiContext& ctx, const Call& call);

Awaitable createInstance(ApiContext& ctx, const Call& call);
Awaitable listInstances(ApiContext& ctx, const Call& call);
Awaitable getInstance(ApiContext& ctx, const Call& call);
Awaitable deleteInstance(ApiContext& ctx, const Call& call);
Awaitable startInstance(ApiContext& ctx, const Call& call);
Awaitable stopInstance(ApiContext& ctx, const Call& call);
Awaitable getCapacity(ApiContext& ctx, const Call& call);

Awaitable createFilesystem(ApiContext& ctx, const Call& call);
Awaitable listFilesystems(ApiContext& ctx, const Call& call);
Awaitable getFilesystem(ApiContext& ctx, const Call& call);
Awaitable deleteFilesystem(ApiContext& ctx, const Call& call);

Awaitable createKubernetesCluster(ApiContext& ctx, const Call& call);
Awaitable listKubernetesClusters(ApiContext& ctx, const Call& call);
Awaitable getKubernetesCluster(ApiContext& ctx, const Call& call);
Awaitable upgradeKubernetesCluster(ApiContext& ctx, const Call& call);
Awaitable deleteKubernetesCluster(ApiContext& ctx, const Call& call);
Awaitable listKubernetesClusterPools(ApiContext& ctx, const Call& call);
Awaitable getKubernetesClusterPool(ApiContext& ctx, const Call& call);
Awaitable listKubernetesPools(ApiContext& ctx, const Call& call);
Awaitable addKubernetesPool(ApiContext& ctx, const Call& call);
Awaitable scaleKubernetesPool(ApiContext& ctx, const Call& call);
Awaitable removeKubernetesPool(ApiContext& ctx, const Call& call);
Awaitable getKubeconfig(ApiContext& ctx, const Call& call);

Awaitable createSlurmCluster(ApiContext& ctx, const Call& call);
Awaitable listSlurmClusters(ApiContext& ctx, const Call& call);
Awaitable getSlurmCluster(ApiContext& ctx, const Call& call);
Awaitable deleteSlurmCluster(ApiContext& ctx, const Call& call);
Awaitable listSlurmClusterPools(ApiContext& ctx, const Call& call);
Awaitable getSlurmClusterPool(ApiContext& ctx, const Call& call);
Awaitable listSlurmPools(ApiContext& ctx, const Call& call);
Awaitable addSlurmPool(ApiContext& ctx, const Call& call);
Awaitable scaleSlurmPool(ApiContext& ctx, const Call& call);
Awaitable removeSlurmPool(ApiContext& ctx, const Call& call);
Awaitable listSlurmUsers(ApiContext& ctx, const Call& call);
Awaitable addSlurmUser(ApiContext& ctx, const Call& call);
Awaitable getSlurmUser(ApiContext& ctx, const Call& call);
Awaitable updateSlurmUser(ApiContext& ctx, const Call& call);
Awaitable removeSlurmUser(ApiContext& ctx, const Call& call);

Awaitable listInstanceTypes(ApiContext& ctx, const Call& call);
Awaitable getCapabilities(ApiContext& ctx, const Call& call);

Awaitable health(ApiContext& ctx, const Call& call);
Awaitable metrics(ApiContext& ctx, const Call& call);
Awaitable openapi(ApiContext& ctx, const Call& call);

}  // namespace gpuhost::api::handlers

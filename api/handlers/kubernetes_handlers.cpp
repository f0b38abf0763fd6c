// The Kubernetes routes: /kubernetes/clusters, their node pools, upgrades and kubeconfigs.
// Every call names ClusterKind::Kubernetes, so a Slurm cluster is a 404 here, as another
// project's is.
#include "handlers/cluster_handlers.hpp"
#include "handlers/handlers.hpp"
#include "json_mapping.hpp"
#include "kubernetes_mapping.hpp"

namespace gpuhost::api::handlers {

namespace {

constexpr auto kKubernetes = model::ClusterKind::Kubernetes;

const ClusterRoutes kRoutes{kKubernetes,           parseCreateKubernetesCluster, parseKubernetesPool,
                            kubernetesClusterJson, kubernetesPoolJson,           kubernetesCreateError};

}  // namespace

Awaitable createKubernetesCluster(ApiContext& ctx, const Call& call) {
    return createCluster(ctx, call, kRoutes);
}

Awaitable listKubernetesClusters(ApiContext& ctx, const Call& call) {
    return listClusters(ctx, call, kRoutes);
}

Awaitable getKubernetesCluster(ApiContext& ctx, const Call& call) {
    return getCluster(ctx, call, kRoutes);
}

// 200 with the cluster: the roll to the new version runs in the cluster's jobs.
Awaitable upgradeKubernetesCluster(ApiContext& ctx, const Call& call) {
    auto at = clusterTarget(ctx, call, kKubernetes);
    if (!at) {
        co_return at.error();
    }
    auto version = parseKubernetesClusterPatch(call.body);
    if (!version) {
        co_return version.error();
    }
    auto view = co_await at->clusters->upgrade(*call.project, kKubernetes, at->id, std::move(*version));
    if (!view) {
        co_return view.error();
    }
    co_return Reply{http::status::ok, dump(kubernetesClusterJson(*view))};
}

Awaitable deleteKubernetesCluster(ApiContext& ctx, const Call& call) {
    return deleteCluster(ctx, call, kRoutes);
}

Awaitable listKubernetesClusterPools(ApiContext& ctx, const Call& call) {
    return listClusterPools(ctx, call, kRoutes);
}

Awaitable getKubernetesClusterPool(ApiContext& ctx, const Call& call) {
    return getClusterPool(ctx, call, kRoutes);
}

Awaitable listKubernetesPools(ApiContext& ctx, const Call& call) {
    return listPools(ctx, call, kRoutes);
}

Awaitable addKubernetesPool(ApiContext& ctx, const Call& call) {
    return addPool(ctx, call, kRoutes);
}

Awaitable scaleKubernetesPool(ApiContext& ctx, const Call& call) {
    return scalePool(ctx, call, kRoutes);
}

Awaitable removeKubernetesPool(ApiContext& ctx, const Call& call) {
    return removePool(ctx, call, kRoutes);
}

// The admin kubeconfig as YAML text (503 until the control plane has the address it names).
Awaitable getKubeconfig(ApiContext& ctx, const Call& call) {
    auto at = clusterTarget(ctx, call, kKubernetes);
    if (!at) {
        co_return at.error();
    }
    auto config = at->clusters->clientConfig(*call.project, kKubernetes, at->id);
    if (!config) {
        co_return config.error();
    }
    co_return Reply{http::status::ok, std::move(*config), "application/yaml"};
}

}  // namespace gpuhost::api::handlers

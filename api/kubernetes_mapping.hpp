#pragma once

// JSON ⇄ Kubernetes clusters, node pools and nodes (api/kubernetes_mapping.cpp).
#include <nlohmann/json.hpp>
#include <string>

#include "cluster_mapping.hpp"
#include "model/cluster.hpp"
#include "model/error.hpp"
#include "services/cluster_service.hpp"

namespace gpuhost::api {

/// Pod block prefixes: each node gets a /24 of it, so at most /22 (4 nodes' ranges) and at
/// least /8. Service block prefixes: kube-apiserver refuses more than 2^20 addresses (/12);
/// /28 still leaves room for the API server's and DNS' addresses.
inline constexpr unsigned kMinPodPrefix = 8;
inline constexpr unsigned kMaxPodPrefix = 22;
inline constexpr unsigned kMinServicePrefix = 12;
inline constexpr unsigned kMaxServicePrefix = 28;

/// POST /kubernetes/clusters body `{name, version, podCIDRBlock?, serviceCIDRBlock?,
/// defaultNodePool?, controlPlaneType?}`. The version comes back as "1.32.5" (no "v"), the
/// blocks as normalized CIDRs. `network` is nullopt when neither block is given, else the
/// given ones with "" for the other (the kind fills the region's default). Errors name the
/// field, e.g. `defaultNodePool.count`.
model::Result<agent::CreateCluster> parseCreateKubernetesCluster(const nlohmann::json& body);
/// A service error about a new cluster, naming the field as the create body does: the spec's
/// `nodePools[0].type` is `defaultNodePool.type`, its `controllerType` is `controlPlaneType`.
model::Error kubernetesCreateError(model::Error error);
/// PATCH /kubernetes/clusters/{id} body `{version}`: the target version, normalized.
model::Result<std::string> parseKubernetesClusterPatch(const nlohmann::json& body);
/// POST /kubernetes/clusters/{id}/node-pools body `{name, type, count}`.
model::Result<model::ClusterPool> parseKubernetesPool(const nlohmann::json& body);

nlohmann::json kubernetesClusterJson(const model::ClusterView& view);
nlohmann::json kubernetesPoolJson(const model::ClusterPoolView& pool, const model::Uuid& clusterId);
/// A node as the API server shows it once it lists the node; before, derived from the VM:
/// creating/starting → "Provisioning", running → "NotReady", anything else → "Unknown".
nlohmann::json kubernetesNodeJson(const model::ClusterNode& node);

}  // namespace gpuhost::api

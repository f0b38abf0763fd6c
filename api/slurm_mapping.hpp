#pragma once

// JSON ⇄ Slurm clusters, node pools and users (api/slurm_mapping.cpp).
#include <nlohmann/json.hpp>

#include "cluster_mapping.hpp"
#include "model/cluster.hpp"
#include "model/error.hpp"
#include "services/cluster_service.hpp"

namespace gpuhost::api {

inline constexpr unsigned kMaxLoginNodes = 16;

/// POST /slurm/clusters body. Errors name the field, e.g. `nodePools[1].count`.
model::Result<agent::CreateCluster> parseCreateSlurmCluster(const nlohmann::json& body);
/// POST /slurm/clusters/{id}/node-pools body: one pool; errors name `name`, `count`, ...
model::Result<model::ClusterPool> parseSlurmPool(const nlohmann::json& body);
/// POST /slurm/clusters/{id}/users body; keys come back as normalized authorized_keys lines.
model::Result<model::ClusterUser> parseSlurmUser(const nlohmann::json& body);
/// PUT /slurm/clusters/{id}/users/{username} body: what is given replaces, the rest stays.
model::Result<model::ClusterUserUpdate> parseSlurmUserUpdate(const nlohmann::json& body);

nlohmann::json slurmClusterJson(const model::ClusterView& view);
nlohmann::json slurmPoolJson(const model::ClusterPoolView& pool, const model::Uuid& clusterId);
nlohmann::json slurmUserJson(const model::ClusterUserView& user);

}  // namespace gpuhost::api

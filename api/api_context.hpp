#pragma once

#include <string_view>

#include "metrics.hpp"
#include "render_cache.hpp"
#include "services/catalog.hpp"
#include "services/cluster_service.hpp"
#include "services/filesystem_service.hpp"
#include "services/instance_service.hpp"
#include "services/project_service.hpp"

namespace gpuhost::api {

/// The agent services the handlers use. Built by main.cpp; the API never sees
/// libvirt, the store or any other concrete driver.
struct ApiContext {
    agent::ProjectService& projects;
    agent::InstanceService& instances;
    agent::FilesystemService& filesystems;
    const agent::Catalog& catalog;
    agent::Metrics& metrics;
    /// Clusters of every kind; null in a daemon without the cluster service, where the
    /// Slurm and Kubernetes routes answer 501 and /capabilities lists neither (as for a kind
    /// the service does not offer: see implemented() in router.hpp).
    agent::ClusterApi* clusters = nullptr;
    /// limits.list_max_items: the most items one list response holds.
    std::size_t listMaxItems = 1000;
    RenderCache projectLists{};
    RenderCache instanceLists{};  // per project; the largest lists (userData aside, tags)
};

/// The OpenAPI 3.0 document, embedded at build time from api/openapi.json.
std::string_view openapiDocument();

}  // namespace gpuhost::api

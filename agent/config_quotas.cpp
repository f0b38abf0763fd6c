// The `quotas:` section: `project:` (every project's limits), `projects:` (overrides by project
// id, each a full set starting from `project:`), `region:` (ceilings for all projects together).
#include "config_yaml.hpp"

namespace gpuhost::agent::config_yaml {

namespace {

constexpr std::uint64_t kMaxCount = 1'000'000;

model::ProjectQuotas projectQuotas(const YAML::Node& node, const std::string& at,
                                   model::ProjectQuotas quotas) {
    rejectUnknownKeys(node, at,
                      {"instances", "filesystems", "filesystem_bytes", "clusters", "cluster_users"});
    if (node["instances"]) {
        quotas.instances = positiveInteger(node["instances"], at + ".instances", kMaxCount);
    }
    if (node["filesystems"]) {
        quotas.filesystems = positiveInteger(node["filesystems"], at + ".filesystems", kMaxCount);
    }
    if (node["filesystem_bytes"]) {
        quotas.filesystemBytes = byteSize(node["filesystem_bytes"], at + ".filesystem_bytes");
    }
    if (node["clusters"]) {
        quotas.clusters = positiveInteger(node["clusters"], at + ".clusters", kMaxCount);
    }
    if (node["cluster_users"]) {
        quotas.clusterUsers = positiveInteger(node["cluster_users"], at + ".cluster_users", kMaxCount);
    }
    return quotas;
}

}  // namespace

void parseQuotas(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "quotas", {"project", "projects", "region"});
    auto& quotas = config.quotas;
    if (node["project"]) {
        quotas.project = projectQuotas(node["project"], "quotas.project", quotas.project);
    }
    if (node["projects"]) {
        if (!node["projects"].IsMap()) {
            fail("quotas.projects", "must map project ids to limits");
        }
        for (const auto& entry : node["projects"]) {
            auto key = entry.first.as<std::string>();
            auto id = model::Uuid::parse(key);
            if (!id) {
                fail("quotas.projects", key + " is not a project id");
            }
            quotas.projects[*id] = projectQuotas(entry.second, "quotas.projects." + key, quotas.project);
        }
    }
    if (node["region"]) {
        const auto& region = node["region"];
        rejectUnknownKeys(region, "quotas.region", {"instances", "filesystems", "clusters"});
        if (region["instances"]) {
            quotas.region.instances =
                positiveInteger(region["instances"], "quotas.region.instances", kMaxCount);
        }
        if (region["filesystems"]) {
            quotas.region.filesystems =
                positiveInteger(region["filesystems"], "quotas.region.filesystems", kMaxCount);
        }
        if (region["clusters"]) {
            quotas.region.clusters = positiveInteger(region["clusters"], "quotas.region.clusters", kMaxCount);
        }
    }
}

}  // namespace gpuhost::agent::config_yaml

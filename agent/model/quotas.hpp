#pragma once

// Limits on what one project, and the whole region, may hold (config: `quotas:`). Counted at
// create time against what is stored, out-of-stock instances and cluster members included:
// a tenant cannot fill the store or the host with records that cost it nothing.
#include <cstdint>
#include <map>
#include <string>

#include "model/error.hpp"
#include "model/uuid.hpp"

namespace gpuhost::model {

struct ProjectQuotas {
    std::uint64_t instances = 200;                 // VMs of every state, cluster members too
    std::uint64_t filesystems = 50;                // shared filesystems
    std::uint64_t filesystemBytes = 100ull << 40;  // their sizes together (100Ti)
    std::uint64_t clusters = 20;                   // Slurm and Kubernetes together
    std::uint64_t clusterUsers = 500;              // users of one Slurm cluster
    bool operator==(const ProjectQuotas&) const = default;
};

struct RegionQuotas {
    std::uint64_t instances = 5000;
    std::uint64_t filesystems = 2000;
    std::uint64_t clusters = 500;
};

struct Quotas {
    ProjectQuotas project;                   // every project's, unless overridden
    std::map<Uuid, ProjectQuotas> projects;  // per-project overrides
    RegionQuotas region;

    const ProjectQuotas& of(const Uuid& projectId) const {
        auto it = projects.find(projectId);
        return it == projects.end() ? project : it->second;
    }
    /// The config key of one of a project's limits: "quotas.project.instances", or the override's.
    std::string keyOf(const Uuid& projectId, const std::string& limit) const {
        return projects.contains(projectId) ? "quotas.projects." + projectId.str() + "." + limit
                                            : "quotas.project." + limit;
    }
};

/// QuotaExceeded naming the limit's config key: "quota exceeded: quotas.project.instances (200)".
inline Error quotaExceeded(const std::string& limit, std::uint64_t value, const std::string& what) {
    return Error{ErrorCode::QuotaExceeded,
                 "quota exceeded: " + what + " (" + limit + " is " + std::to_string(value) + ")", limit};
}

}  // namespace gpuhost::model

#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster.hpp"
#include "services/resource_index.hpp"

namespace gpuhost::agent {

/// One node as the cluster's scheduler reports it (Slurm: sinfo on the controller;
/// Kubernetes: the API server's node object).
struct NodeReport {
    bool ready = false;  // takes work (Slurm: idle/allocated/mixed and responding; Kubernetes: Ready)
    std::vector<std::string> states;
    std::string version;
    std::vector<std::string> partitions;
    std::optional<std::string> reservation;
    std::optional<std::string> reason;
    std::optional<model::KubernetesNodeFacts> kubernetes;
};

/// The last answer of the scheduler, by node name.
struct SchedulerReport {
    std::string version;  // what really runs, e.g. "22.05.8"
    std::map<std::string, NodeReport> nodes;
    std::chrono::steady_clock::time_point at{};
};

/// What the agent knows of a cluster beyond its spec, in memory only: rebuilt by the
/// cluster's jobs after a restart (they re-check every step in the guests).
struct ClusterProgress {
    std::string step;     // the step under way, for the status details
    std::string problem;  // the last failure of a step ("" when the last try worked)
    bool failed = false;  // the problem is not transient: the cluster is in ERROR
    bool everReady = false;
    std::optional<SchedulerReport> report;
    /// Per member: the users (as specified then) known to be applied on it.
    std::map<model::Uuid, std::map<std::string, model::ClusterUser>> usersOn;
};

struct ClusterEntry {
    model::Cluster cluster;
    std::string secret;     // the kind's key material (Slurm: munge key); never rendered
    std::string kindState;  // the kind's durable progress (stored); never rendered
    ClusterProgress progress;
};

struct ClusterIndexTraits {
    static model::Uuid id(const ClusterEntry& entry) { return entry.cluster.id; }
    static model::Uuid owner(const ClusterEntry& entry) { return entry.cluster.projectId; }
    /// Names are unique per project and kind.
    static std::string scope(const ClusterEntry& entry) {
        return std::string(model::nameOf(entry.cluster.kind));
    }
    static const std::string& name(const ClusterEntry& entry) { return entry.cluster.name; }
};

/// The clusters in memory. The store is the durable truth, written before the table
/// changes; progress is the agent's own and lives here only.
class ClusterTable {
  public:
    using Index = ResourceIndex<ClusterEntry, ClusterIndexTraits>;

    std::unique_lock<std::mutex> lock() const { return std::unique_lock(mutex_); }
    /// With lock() held.
    Index& index() { return index_; }
    const Index& index() const { return index_; }

    /// A copy of the cluster (spec, secret, progress); nullopt when gone.
    std::optional<ClusterEntry> snapshot(const model::Uuid& id) const {
        auto locked = lock();
        if (const auto* entry = index_.find(id)) {
            return *entry;
        }
        return std::nullopt;
    }
    /// Runs `change` on the cluster's progress under the lock (nothing when it is gone).
    template <class Change>
    void updateProgress(const model::Uuid& id, Change&& change) {
        auto locked = lock();
        if (auto* entry = index_.find(id)) {
            change(entry->progress);
        }
    }
    std::vector<model::Uuid> ids() const {
        auto locked = lock();
        std::vector<model::Uuid> all;
        for (const auto& [id, slot] : index_.all()) {
            all.push_back(id);
        }
        return all;
    }

  private:
    mutable std::mutex mutex_;
    Index index_;
};

}  // namespace gpuhost::agent

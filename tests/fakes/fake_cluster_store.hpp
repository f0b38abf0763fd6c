#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory ClusterStore for service and handler tests. It refuses what the SQLite
/// store refuses (a name twice per project and kind, a pool name, username or uid twice in
/// a cluster; NotFound for a cluster that is gone), except what needs other tables: it
/// knows no projects, so never answers NotFound for one. `failNext` makes the next call,
/// whichever it is, fail with the given error (a disk error, a constraint).
class FakeClusterStore final : public agent::ClusterStore {
  public:
    model::Result<std::vector<model::Cluster>> loadClusters() override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        std::vector<model::Cluster> all;
        for (const auto& [id, stored] : clusters_) {
            all.push_back(stored.cluster);
        }
        // Creation order, ties in insertion order, as the SQLite store (created_at, rowid).
        std::sort(all.begin(), all.end(), [this](const model::Cluster& a, const model::Cluster& b) {
            return std::pair(a.createdAt, clusters_.at(a.id).sequence) <
                   std::pair(b.createdAt, clusters_.at(b.id).sequence);
        });
        return all;
    }
    model::Result<void> insertCluster(const model::Cluster& cluster, const std::string& secret,
                                      const std::string& kindState = {}) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        if (clusters_.contains(cluster.id)) {
            return model::Error{model::ErrorCode::Conflict, "duplicate id", "name"};
        }
        for (const auto& [id, other] : clusters_) {
            if (other.cluster.projectId == cluster.projectId && other.cluster.kind == cluster.kind &&
                other.cluster.name == cluster.name) {
                return model::Error{model::ErrorCode::Conflict, "duplicate name", "name"};
            }
        }
        if (auto valid = checkLists(cluster); !valid) {
            return valid;
        }
        clusters_[cluster.id] = Stored{cluster, secret, nextSequence_++, kindState};
        return {};
    }
    model::Result<std::string> clusterSecret(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        auto it = clusters_.find(id);
        if (it == clusters_.end()) {
            return model::Error::notFound("cluster");
        }
        return it->second.secret;
    }
    model::Result<std::string> clusterKindState(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        auto it = clusters_.find(id);
        if (it == clusters_.end()) {
            return model::Error::notFound("cluster");
        }
        return it->second.kindState;
    }
    model::Result<void> updateClusterKindState(const model::Uuid& id, const std::string& kindState) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        if (refuseKindState_ && refuseKindState_(kindState)) {
            return model::Error{model::ErrorCode::Internal, "disk I/O error (refused by the test)", {}};
        }
        auto it = clusters_.find(id);
        if (it == clusters_.end()) {
            return model::Error::notFound("cluster");
        }
        it->second.kindState = kindState;
        return {};
    }
    model::Result<void> updateCluster(const model::Cluster& cluster) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        auto it = clusters_.find(cluster.id);
        if (it == clusters_.end()) {
            return model::Error::notFound("cluster");
        }
        if (auto valid = checkLists(cluster); !valid) {
            return valid;
        }
        // What the SQLite store replaces; the rest is fixed at creation.
        auto& stored = it->second.cluster;
        stored.version = cluster.version;
        stored.deleting = cluster.deleting;
        stored.rollRetries = cluster.rollRetries;
        stored.pools = cluster.pools;
        stored.users = cluster.users;
        return {};
    }
    model::Result<void> deleteCluster(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        clusters_.erase(id);
        return {};
    }

    void failNext(model::Error error) {
        std::lock_guard lock(mutex_);
        failure_ = std::move(error);
    }
    /// Kind-state writes for which `refuse` answers true fail (as a crash right before the
    /// write would leave it: the step's guest actions done, its progress not stored).
    void refuseKindStateWhen(std::function<bool(const std::string& kindState)> refuse) {
        std::lock_guard lock(mutex_);
        refuseKindState_ = std::move(refuse);
    }
    std::optional<model::Cluster> find(const model::Uuid& id) {
        std::lock_guard lock(mutex_);
        auto it = clusters_.find(id);
        return it == clusters_.end() ? std::nullopt : std::optional(it->second.cluster);
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return clusters_.size();
    }

  private:
    struct Stored {
        model::Cluster cluster;
        std::string secret;
        std::uint64_t sequence = 0;
        std::string kindState;
    };

    // The SQLite keys of cluster_pools and cluster_users, checked by hand.
    static model::Result<void> checkLists(const model::Cluster& cluster) {
        std::set<std::string> pools;
        for (const auto& pool : cluster.pools) {
            if (!pools.insert(pool.name).second) {
                return model::Error{model::ErrorCode::Conflict, "duplicate pool name", "nodePools"};
            }
        }
        std::set<std::string> usernames;
        std::set<unsigned> uids;
        for (const auto& user : cluster.users) {
            if (!usernames.insert(user.username).second) {
                return model::Error{model::ErrorCode::Conflict, "duplicate username", "username"};
            }
            if (!uids.insert(user.uid).second) {
                return model::Error{model::ErrorCode::Conflict, "duplicate uid", "uid"};
            }
        }
        return {};
    }
    std::optional<model::Error> takeFailure() {
        auto failure = std::move(failure_);
        failure_.reset();
        return failure;
    }

    std::mutex mutex_;
    std::map<model::Uuid, Stored> clusters_;
    std::uint64_t nextSequence_ = 0;
    std::optional<model::Error> failure_;
    std::function<bool(const std::string&)> refuseKindState_;
};

}  // namespace gpuhost::test

#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory InstanceStore for service and handler tests. It refuses what the SQLite
/// store refuses (names per scope, GPUs, all or none; sqlite_group_test runs both), except
/// what needs other tables: it knows no projects or filesystems, so never answers NotFound.
class FakeInstanceStore final : public agent::InstanceStore {
  public:
    model::Result<std::vector<model::Instance>> loadInstances() override {
        std::lock_guard lock(mutex_);
        std::vector<model::Instance> all;
        for (const auto& [id, instance] : instances_) {
            all.push_back(instance);
        }
        // Creation order, ties in insertion order, as the SQLite store (created_at, rowid).
        std::sort(all.begin(), all.end(), [this](const model::Instance& a, const model::Instance& b) {
            return std::pair(a.createdAt, sequence_.at(a.id)) < std::pair(b.createdAt, sequence_.at(b.id));
        });
        return all;
    }
    model::Result<void> insertInstances(const std::vector<model::Instance>& instances,
                                        const std::vector<agent::InstanceUpdate>& first = {}) override {
        std::lock_guard lock(mutex_);
        // All or none, as the SQLite transaction: work on the map, restore it on any error.
        auto saved = instances_;
        auto result = insertLocked(instances, first);
        if (!result) {
            instances_ = std::move(saved);  // sequence_ may keep stale ids: only looked up for live ones
        }
        return result;
    }
    model::Result<void> updateInstances(const std::vector<agent::InstanceUpdate>& updates) override {
        std::lock_guard lock(mutex_);
        auto saved = instances_;
        for (const auto& update : updates) {
            if (auto applied = applyLocked(update); !applied) {
                instances_ = saved;
                return applied;
            }
        }
        return {};
    }
    model::Result<void> deleteInstance(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        instances_.erase(id);
        sequence_.erase(id);
        return {};
    }
    std::optional<model::Instance> find(const model::Uuid& id) {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        return it == instances_.end() ? std::nullopt : std::optional(it->second);
    }

  private:
    // The key of the SQLite unique index (project_id, owner_cluster, name): user instances
    // share the scope "", a cluster's members have their cluster's.
    static std::string nameScope(const model::Instance& instance) {
        return instance.owner ? instance.owner->clusterId.str() : std::string();
    }
    model::Result<void> insertLocked(const std::vector<model::Instance>& instances,
                                     const std::vector<agent::InstanceUpdate>& first) {
        for (const auto& update : first) {
            if (auto applied = applyLocked(update); !applied) {
                return applied;
            }
        }
        for (const auto& instance : instances) {
            if (instances_.contains(instance.id)) {
                return model::Error{model::ErrorCode::Conflict, "duplicate id", "name"};
            }
            for (const auto& [id, other] : instances_) {
                if (other.projectId == instance.projectId && nameScope(other) == nameScope(instance) &&
                    other.name == instance.name) {
                    return model::Error{model::ErrorCode::Conflict, "duplicate name", "name"};
                }
            }
            if (!gpusFreeLocked(instance.id, instance.host, instance.gpus)) {
                return model::Error::internal("GPU already allocated");
            }
            instances_[instance.id] = instance;
            sequence_[instance.id] = nextSequence_++;
        }
        return {};
    }
    // The SQLite store's (host, address) primary key, checked by hand.
    bool gpusFreeLocked(const model::Uuid& owner, const std::string& host,
                        const std::vector<model::PciAddress>& gpus) const {
        for (std::size_t i = 0; i < gpus.size(); ++i) {
            if (std::find(gpus.begin() + static_cast<std::ptrdiff_t>(i) + 1, gpus.end(), gpus[i]) !=
                gpus.end()) {
                return false;  // one GPU twice in the list: the primary key refuses that too
            }
        }
        for (const auto& [id, other] : instances_) {
            for (const auto& gpu : gpus) {
                if (id != owner && other.host == host &&
                    std::find(other.gpus.begin(), other.gpus.end(), gpu) != other.gpus.end()) {
                    return false;
                }
            }
        }
        return true;
    }
    model::Result<void> applyLocked(const agent::InstanceUpdate& update) {
        auto it = instances_.find(update.id);
        if (it == instances_.end()) {
            return model::Error::notFound("instance");
        }
        if (update.gpus && !gpusFreeLocked(update.id, it->second.host, *update.gpus)) {
            return model::Error::internal("GPU already allocated");
        }
        it->second.state = update.state;
        it->second.ip = update.ip;
        it->second.reason = update.reason;
        if (update.gpus) {
            it->second.gpus = *update.gpus;
        }
        return {};
    }

    std::mutex mutex_;
    std::map<model::Uuid, model::Instance> instances_;
    std::map<model::Uuid, std::uint64_t> sequence_;
    std::uint64_t nextSequence_ = 0;
};

}  // namespace gpuhost::test

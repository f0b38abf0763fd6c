#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory InstanceStore for service and handler tests.
class FakeInstanceStore final : public agent::InstanceStore {
  public:
    model::Result<std::vector<model::Instance>> loadInstances() override {
        std::lock_guard lock(mutex_);
        std::vector<model::Instance> all;
        for (const auto& [id, instance] : instances_) {
            all.push_back(instance);
        }
        return all;
    }
    model::Result<void> insertInstance(const model::Instance& instance,
                                       const std::vector<agent::InstanceUpdate>& first) override {
        std::lock_guard lock(mutex_);
        auto saved = instances_;
        for (const auto& update : first) {
            if (auto applied = applyLocked(update); !applied) {
                instances_ = saved;
                return applied;
            }
        }
        for (const auto& [id, other] : instances_) {
            if (other.projectId == instance.projectId && other.name == instance.name) {
                instances_ = saved;
                return model::Error{model::ErrorCode::Conflict, "duplicate name", "name"};
            }
        }
        if (!gpusFreeLocked(instance.id, instance.host, instance.gpus)) {
            instances_ = saved;
            return model::Error::internal("GPU already allocated");
        }
        instances_[instance.id] = instance;
        return {};
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
        return {};
    }
    model::Result<model::Uuid> agentId() override { return agent_; }
    model::Result<bool> imageImported(const std::string& volume) override {
        std::lock_guard lock(mutex_);
        return imported_.contains(volume);
    }
    model::Result<void> markImageImported(const std::string& volume) override {
        std::lock_guard lock(mutex_);
        imported_.insert(volume);
        return {};
    }

    std::optional<model::Instance> find(const model::Uuid& id) {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        return it == instances_.end() ? std::nullopt : std::optional(it->second);
    }

  private:
    // The SQLite store's (host, address) primary key, checked by hand.
    bool gpusFreeLocked(const model::Uuid& owner, const std::string& host,
                        const std::vector<model::PciAddress>& gpus) const {
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
    model::Uuid agent_ = model::Uuid::random();
    std::set<std::string> imported_;
};

}  // namespace gpuhost::test

#pragma once

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
    model::Result<void> insertInstance(const model::Instance& instance) override {
        std::lock_guard lock(mutex_);
        for (const auto& [id, other] : instances_) {
            if (other.projectId == instance.projectId && other.name == instance.name) {
                return model::Error{model::ErrorCode::Conflict, "duplicate name", "name"};
            }
        }
        instances_[instance.id] = instance;
        return {};
    }
    model::Result<void> updateInstanceState(const model::Uuid& id, model::InstanceState state,
                                            const std::optional<std::string>& ip,
                                            const std::string& reason) override {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        if (it == instances_.end()) {
            return model::Error::notFound("instance");
        }
        it->second.state = state;
        it->second.ip = ip;
        it->second.reason = reason;
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
    std::mutex mutex_;
    std::map<model::Uuid, model::Instance> instances_;
    model::Uuid agent_ = model::Uuid::random();
    std::set<std::string> imported_;
};

}  // namespace gpuhost::test

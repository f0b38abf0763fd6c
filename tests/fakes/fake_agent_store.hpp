#pragma once

#include <mutex>
#include <set>
#include <string>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory AgentMetadataStore: one random agent id for the fake's lifetime (as the
/// SQLite store keeps one per database), image marks as opaque strings.
class FakeAgentStore final : public agent::AgentMetadataStore {
  public:
    model::Result<model::Uuid> agentId() override { return agent_; }
    model::Result<bool> imageImported(const std::string& mark) override {
        std::lock_guard lock(mutex_);
        return imported_.contains(mark);
    }
    model::Result<void> markImageImported(const std::string& mark) override {
        std::lock_guard lock(mutex_);
        imported_.insert(mark);
        return {};
    }
    model::Result<void> forgetImageImported(const std::string& mark) override {
        std::lock_guard lock(mutex_);
        imported_.erase(mark);
        return {};
    }

    /// Every mark recorded now, for tests that check what a component marked.
    std::set<std::string> marks() {
        std::lock_guard lock(mutex_);
        return imported_;
    }

  private:
    const model::Uuid agent_ = model::Uuid::random();
    std::mutex mutex_;
    std::set<std::string> imported_;
};

}  // namespace gpuhost::test

#pragma once

#include <map>
#include <mutex>
#include <optional>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory ProjectStore for service and handler tests. `failNext` makes the
/// next mutation fail with the given error (e.g. a disk error or a constraint).
class FakeProjectStore final : public agent::ProjectStore {
  public:
    model::Result<std::vector<model::Project>> loadProjects() override {
        std::lock_guard lock(mutex_);
        std::vector<model::Project> all;
        for (const auto& [id, project] : projects_) {
            all.push_back(project);
        }
        return all;
    }

    model::Result<void> insertProject(const model::Project& project) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        projects_[project.id] = project;
        return {};
    }

    model::Result<void> deleteProjectIfEmpty(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        if (auto error = takeFailure()) {
            return *error;
        }
        if (owning_.contains(id)) {
            return model::Error::conflict("project still owns instances; delete them first");
        }
        if (projects_.erase(id) == 0) {
            return model::Error::notFound("project");
        }
        return {};
    }

    void failNext(model::Error error) {
        std::lock_guard lock(mutex_);
        failure_ = std::move(error);
    }
    void markOwnsResources(const model::Uuid& id) {
        std::lock_guard lock(mutex_);
        owning_[id] = true;
    }
    std::size_t size() {
        std::lock_guard lock(mutex_);
        return projects_.size();
    }

  private:
    std::optional<model::Error> takeFailure() {
        auto failure = std::move(failure_);
        failure_.reset();
        return failure;
    }

    std::mutex mutex_;
    std::map<model::Uuid, model::Project> projects_;
    std::map<model::Uuid, bool> owning_;
    std::optional<model::Error> failure_;
};

}  // namespace gpuhost::test

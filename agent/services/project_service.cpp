#include "services/project_service.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

namespace gpuhost::agent {

using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

// Built outside the coroutine: GCC 12 mis-copies aggregates initialised inside one.
model::Project newProject(model::CreateProject request) {
    model::Project project;
    project.id = model::Uuid::random();
    project.name = std::move(request.name);
    project.tags = std::move(request.tags);
    project.state = model::ProjectState::Active;
    project.createdAt =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return project;
}

}  // namespace

ProjectService::ProjectService(ProjectStore& store, BlockingPool& pool) : store_(store), pool_(pool) {}

Result<void> ProjectService::loadBlocking() {
    auto projects = store_.loadProjects();
    if (!projects) {
        return projects.error();
    }
    std::unique_lock lock(mutex_);
    index_ = {};
    for (auto& project : *projects) {  // in creation order
        index_.add(std::move(project), false);
    }
    generation_.fetch_add(1, std::memory_order_release);
    return {};
}

boost::asio::awaitable<Result<model::Project>> ProjectService::create(const model::Principal& caller,
                                                                      model::CreateProject request) {
    if (!caller.allProjects) {
        co_return Error{ErrorCode::PermissionDenied, "this token may not create projects", {}};
    }
    {
        std::shared_lock lock(mutex_);
        if (index_.nameTaken({}, {}, request.name)) {
            co_return Error{ErrorCode::Conflict, "a project with this name already exists", "name"};
        }
    }
    model::Project project = newProject(std::move(request));
    // The unique index settles a race between two creates of the same name.
    auto insert = [this, project] { return store_.insertProject(project); };
    auto stored = co_await pool_.run(std::move(insert));
    if (!stored) {
        co_return stored.error();
    }
    {
        std::unique_lock lock(mutex_);
        index_.add(project, false);
        generation_.fetch_add(1, std::memory_order_release);
    }
    co_return project;
}

Result<model::Project> ProjectService::get(const model::Principal& caller, const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    const auto* project = index_.find(id);
    if (project == nullptr || !caller.mayUse(id)) {
        return Error::notFound("project");
    }
    return *project;
}

std::vector<model::Project> ProjectService::list(const model::Principal& caller) const {
    std::vector<model::Project> visible;
    std::shared_lock lock(mutex_);
    // Creation order, also for projects made within the same millisecond.
    for (const auto* project : index_.ofOwner({})) {
        if (caller.mayUse(project->id)) {
            visible.push_back(*project);
        }
    }
    return visible;
}

boost::asio::awaitable<Result<void>> ProjectService::remove(const model::Principal& caller,
                                                            const model::Uuid& id) {
    if (!exists(id) || !caller.mayUse(id)) {
        co_return Error::notFound("project");
    }
    auto work = [this, id] { return store_.deleteProjectIfEmpty(id); };
    auto removed = co_await pool_.run(std::move(work));
    if (!removed) {
        co_return removed.error();
    }
    {
        std::unique_lock lock(mutex_);
        index_.erase(id);
        generation_.fetch_add(1, std::memory_order_release);
    }
    co_return Result<void>{};
}

bool ProjectService::exists(const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    return index_.find(id) != nullptr;
}

std::vector<ResourceCount> ProjectService::countByState() const {
    std::map<std::string, std::uint64_t> counts{{"active", 0}, {"deleting", 0}};
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, slot] : index_.all()) {
            ++counts[std::string(model::nameOf(slot.entry.state))];
        }
    }
    std::vector<ResourceCount> samples;
    for (const auto& [state, count] : counts) {
        samples.push_back({"project", state, count});
    }
    return samples;
}

}  // namespace gpuhost::agent

#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "blocking_pool.hpp"
#include "metrics.hpp"
#include "model/principal.hpp"
#include "model/project.hpp"
#include "services/resource_index.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// Projects: the store is the durable truth; an in-memory index answers reads
/// without touching SQLite (like libvirt's domain object list). Mutations are
/// committed to the store before the index changes and before the caller replies.
class ProjectService {
  public:
    ProjectService(ProjectStore& store, BlockingPool& pool);

    /// Loads every project from the store. Blocking: call before serving.
    model::Result<void> loadBlocking();

    /// Only tokens allowed every project ("*") may create projects.
    boost::asio::awaitable<model::Result<model::Project>> create(const model::Principal& caller,
                                                                 model::CreateProject request);

    /// NotFound when absent or not visible to the caller (never reveal it exists).
    model::Result<model::Project> get(const model::Principal& caller, const model::Uuid& id) const;

    /// Projects the caller may use, oldest first.
    std::vector<model::Project> list(const model::Principal& caller) const;

    /// NotFound when absent or not visible; Conflict while it owns resources.
    boost::asio::awaitable<model::Result<void>> remove(const model::Principal& caller, const model::Uuid& id);

    bool exists(const model::Uuid& id) const;

    /// Bumped on every change, so callers can cache what they render from list().
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

    std::vector<ResourceCount> countByState() const;

  private:
    /// Projects belong to no project: one owner (nil) for all, names unique among them.
    struct Traits {
        static model::Uuid id(const model::Project& project) { return project.id; }
        static model::Uuid owner(const model::Project&) { return {}; }
        static std::string scope(const model::Project&) { return {}; }
        static const std::string& name(const model::Project& project) { return project.name; }
    };

    ProjectStore& store_;
    BlockingPool& pool_;
    mutable std::shared_mutex mutex_;
    ResourceIndex<model::Project, Traits> index_;  // creation order: the store loads in that order
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace gpuhost::agent

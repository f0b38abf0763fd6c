#pragma once

#include <vector>

#include "model/error.hpp"
#include "model/project.hpp"

namespace gpuhost::agent {

/// Durable desired state. Every mutation is committed (and fsynced) before it
/// returns, so whatever the API acknowledged survives kill -9. Implementations
/// block: call them through BlockingPool, never on an I/O thread.
class ProjectStore {
  public:
    virtual ~ProjectStore() = default;

    /// All projects, in creation order.
    virtual model::Result<std::vector<model::Project>> loadProjects() = 0;

    /// Conflict when the name is taken.
    virtual model::Result<void> insertProject(const model::Project& project) = 0;

    /// Removes the project in one transaction with the check that it owns no
    /// resources: NotFound if absent, Conflict if it still owns something.
    virtual model::Result<void> deleteProjectIfEmpty(const model::Uuid& id) = 0;
};

}  // namespace gpuhost::agent

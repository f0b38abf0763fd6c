#pragma once

#include <string>
#include <unordered_set>

#include "model/uuid.hpp"

namespace gpuhost::model {

/// Who is calling: an authenticated API token and the projects it may use.
struct Principal {
    std::string name;
    bool allProjects = false;
    std::unordered_set<Uuid> projects;
    /// "*" or the sorted project ids: equal scopes, equal keys (used to share cached renders).
    std::string scope;

    bool mayUse(const Uuid& project) const { return allProjects || projects.contains(project); }
};

}  // namespace gpuhost::model

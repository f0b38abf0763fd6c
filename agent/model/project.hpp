#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "model/uuid.hpp"
#include "model/validation.hpp"

namespace gpuhost::model {

enum class ProjectState { Active, Deleting };

std::string_view nameOf(ProjectState state);
std::optional<ProjectState> projectStateFromString(std::string_view text);

using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

/// RFC 3339 UTC with milliseconds, e.g. 2026-11-27T11:51:19.123Z.
std::string formatTimestamp(Timestamp t);
std::optional<Timestamp> parseTimestamp(std::string_view text);

struct Project {
    Uuid id;
    std::string name;
    Tags tags;
    ProjectState state = ProjectState::Active;
    Timestamp createdAt{};
};

/// A validated request to create a project.
struct CreateProject {
    std::string name;
    Tags tags;
};

}  // namespace gpuhost::model

#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "model/error.hpp"
#include "model/instance_type.hpp"
#include "model/project.hpp"

namespace gpuhost::api {

inline constexpr std::size_t kMaxJsonDepth = 32;

/// Parses a request body: rejects invalid JSON, nesting deeper than kMaxJsonDepth
/// (checked before parsing, so 10,000 levels cost nothing) and non-object roots.
model::Result<nlohmann::json> parseJsonObject(std::string_view body);

/// POST /projects body → a validated CreateProject. Unknown fields are rejected.
model::Result<model::CreateProject> parseCreateProject(const nlohmann::json& body);

/// An optional "tags" member → validated tags.
model::Result<model::Tags> parseTags(const nlohmann::json& body, const char* field = "tags");

nlohmann::json toJson(const model::Project& project);
nlohmann::json toJson(const model::InstanceType& type);

/// Serialises for the wire (invalid UTF-8 cannot be stored, but never throw on it).
std::string dump(const nlohmann::json& value);

}  // namespace gpuhost::api

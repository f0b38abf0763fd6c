#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "model/error.hpp"
#include "model/filesystem.hpp"
#include "model/instance.hpp"
#include "model/instance_type.hpp"
#include "model/project.hpp"

namespace gpuhost::api {

inline constexpr std::size_t kMaxJsonDepth = 32;

/// Parses a request body: rejects invalid JSON, nesting deeper than kMaxJsonDepth
/// (checked before parsing, so 10,000 levels cost nothing) and non-object roots.
model::Result<nlohmann::json> parseJsonObject(std::string_view body);

/// InvalidArgument naming the first member of `body` not in `known`.
model::Result<void> rejectUnknownFields(const nlohmann::json& body, const std::set<std::string_view>& known);

/// POST /projects body → a validated CreateProject. Unknown fields are rejected.
model::Result<model::CreateProject> parseCreateProject(const nlohmann::json& body);

/// An optional "tags" member → validated tags.
model::Result<model::Tags> parseTags(const nlohmann::json& body, const char* field = "tags");

nlohmann::json toJson(const model::Project& project);
nlohmann::json toJson(const model::InstanceType& type);

/// Filesystems one instance may attach (each a virtiofs device), checked before the list is read.
inline constexpr std::size_t kMaxInstanceFilesystems = 16;

/// POST /instances body → a validated CreateInstance (userData base64-decoded; type,
/// image and size limits are checked against the catalog by the service).
model::Result<model::CreateInstance> parseCreateInstance(const nlohmann::json& body);
model::Result<model::CreateFilesystem> parseCreateFilesystem(const nlohmann::json& body,
                                                             std::uint64_t maxBytes);
nlohmann::json toJson(const model::Filesystem& filesystem);
/// An instance as the API shows it (JSON text; a list is rendered without a DOM).
std::string renderInstance(const model::Instance& instance);
std::string renderInstances(const std::vector<model::Instance>& instances);

/// Strict base64 (RFC 4648 alphabet, padded): InvalidArgument naming `field`.
model::Result<std::string> decodeBase64Field(std::string_view text, const std::string& field);

/// Serialises for the wire (invalid UTF-8 cannot be stored, but never throw on it).
std::string dump(const nlohmann::json& value);

}  // namespace gpuhost::api

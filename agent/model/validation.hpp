#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "model/error.hpp"
#include "model/uuid.hpp"

namespace gpuhost::model {

using Tags = std::map<std::string, std::string>;

inline constexpr std::size_t kMaxTags = 64;
inline constexpr std::size_t kMaxTagValueLength = 255;
inline constexpr std::size_t kMaxProjectNameLength = 128;

/// Project names: 1-128 printable characters (valid UTF-8, no control characters).
Result<void> validateProjectName(std::string_view name, const std::string& field = "name");

/// Names of instances, filesystems, clusters and pools become hostnames: 1-63 characters,
/// lowercase letters, digits and '-', starting and ending with a letter or digit.
Result<void> validateResourceName(std::string_view name, const std::string& field = "name");

/// Tag keys: 1-63 characters, start and end alphanumeric, may contain '-', '_', '.'.
/// Values: at most 255 characters, valid UTF-8 without control characters. At most 64 tags.
Result<void> validateTags(const Tags& tags, const std::string& field = "tags");

/// A UUID in canonical form; the error names the field (path parameter or header).
Result<Uuid> parseUuidField(std::string_view text, const std::string& field);

/// Sizes with binary suffixes (Ki, Mi, Gi, Ti), e.g. "512Gi"; zero, overflow and
/// anything else are rejected.
Result<std::uint64_t> parseBinarySize(std::string_view text, const std::string& field);

/// Formats a byte count with the largest binary suffix that divides it exactly.
std::string formatBinarySize(std::uint64_t bytes);

/// True when `text` is valid UTF-8 with no control characters (C0, DEL, C1).
bool isPrintableUtf8(std::string_view text, std::size_t* codePoints = nullptr);

}  // namespace gpuhost::model

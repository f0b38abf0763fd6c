#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/error.hpp"
#include "model/project.hpp"
#include "model/uuid.hpp"

namespace gpuhost::model {

/// creating → available; DELETE: deleting → gone. error when the host refused.
enum class FilesystemState { Creating, Available, Deleting, Failed };

std::string_view nameOf(FilesystemState state);
std::optional<FilesystemState> filesystemStateFromString(std::string_view text);

/// A size-limited shared volume that instances of its project mount through virtiofs.
struct Filesystem {
    Uuid id;
    Uuid projectId;
    std::string name;
    std::uint64_t sizeBytes = 0;
    std::string host;  // it lives on one hypervisor host; instances using it go there
    FilesystemState state = FilesystemState::Creating;
    std::string reason;
    Timestamp createdAt{};
};

struct CreateFilesystem {
    std::string name;
    std::uint64_t sizeBytes = 0;
};

/// `size` as the API takes it: 512Gi (Ki, Mi, Gi, Ti), at least 1Mi, at most `maxBytes`.
Result<std::uint64_t> parseFilesystemSize(std::string_view text, std::uint64_t maxBytes);

}  // namespace gpuhost::model

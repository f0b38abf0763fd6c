#include "model/filesystem.hpp"

#include <array>
#include <utility>

#include "model/validation.hpp"

namespace gpuhost::model {

namespace {
constexpr std::array<std::pair<FilesystemState, std::string_view>, 4> kNames{{
    {FilesystemState::Creating, "creating"},
    {FilesystemState::Available, "available"},
    {FilesystemState::Deleting, "deleting"},
    {FilesystemState::Failed, "error"},
}};
}  // namespace

std::string_view nameOf(FilesystemState state) {
    for (const auto& [value, name] : kNames) {
        if (value == state) {
            return name;
        }
    }
    return "error";
}

std::optional<FilesystemState> filesystemStateFromString(std::string_view text) {
    for (const auto& [value, name] : kNames) {
        if (name == text) {
            return value;
        }
    }
    return std::nullopt;
}

Result<std::uint64_t> parseFilesystemSize(std::string_view text, std::uint64_t maxBytes) {
    auto size = parseBinarySize(text, "size");
    if (!size) {
        return size;
    }
    // ext4 needs room for its own metadata; below 1 MiB nothing useful fits.
    if (*size < (1ull << 20)) {
        return Error::invalid("size", "must be at least 1Mi");
    }
    if (*size > maxBytes) {
        return Error::invalid("size", "must be at most " + formatBinarySize(maxBytes));
    }
    return size;
}

}  // namespace gpuhost::model

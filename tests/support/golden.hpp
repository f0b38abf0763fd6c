#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace gpuhost::test {

/// libvirt-style golden files: compare `actual` with tests/golden/<relative>; with
/// GPUHOST_REGENERATE_GOLDEN=1 in the environment, (re)write the file instead.
/// Returns the golden text (empty when it is missing).
inline std::string golden(const std::string& relative, const std::string& actual) {
    std::filesystem::path path = std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests" / "golden" / relative;
    if (std::getenv("GPUHOST_REGENERATE_GOLDEN") != nullptr) {
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path, std::ios::binary) << actual;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

inline std::filesystem::path goldenPath(const std::string& relative) {
    return std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests" / "golden" / relative;
}

}  // namespace gpuhost::test

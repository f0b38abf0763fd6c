#pragma once

// Shared by the config tests: a valid auth section and the error a YAML text is refused with.
#include <string>

#include "config.hpp"

namespace gpuhost::test {

inline const std::string kHash = std::string(64, 'a');
inline const std::string kAuth =
    "auth:\n  tokens:\n    - {name: t, sha256: " + kHash + ", projects: [\"*\"]}\n";

/// The ConfigError message parseConfig gives for `yaml`, or "" when it is accepted.
inline std::string configErrorOf(const std::string& yaml) {
    try {
        agent::parseConfig(yaml, "/etc/gpuhost");
    } catch (const agent::ConfigError& e) {
        return e.what();
    }
    return "";
}

}  // namespace gpuhost::test

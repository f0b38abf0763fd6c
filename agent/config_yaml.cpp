#include "config_yaml.hpp"

namespace gpuhost::agent::config_yaml {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
    throw ConfigError(key + ": " + what);
}

void rejectUnknownKeys(const YAML::Node& node, const std::string& prefix,
                       const std::set<std::string>& allowed) {
    if (!node.IsMap()) {
        fail(prefix.empty() ? "config" : prefix, "must be a mapping");
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
        auto key = entry.first.as<std::string>();
        std::string path = prefix.empty() ? key : prefix + "." + key;
        if (!allowed.contains(key)) {
            fail(path, "unknown key");
        }
        // yaml-cpp keeps the first of two equal keys silently; a typo'd override must not.
        if (!seen.insert(key).second) {
            fail(path, "given more than once");
        }
    }
}

bool isCatalogName(const std::string& name) {
    return !name.empty() && name.size() <= 63 &&
           name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-_") == std::string::npos;
}

std::string scalar(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) {
        fail(key, "must be a string");
    }
    return node.as<std::string>();
}

std::uint64_t positiveInteger(const YAML::Node& node, const std::string& key, std::uint64_t max) {
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
        fail(key, "must be a positive integer");
    }
    std::uint64_t value = std::stoull(text);
    if (value == 0 || value > max) {
        fail(key, "must be between 1 and " + std::to_string(max));
    }
    return value;
}

bool boolean(const YAML::Node& node, const std::string& key) {
    std::string text = node.IsScalar() ? node.as<std::string>() : "";
    if (text == "true") {
        return true;
    }
    if (text == "false") {
        return false;
    }
    fail(key, "must be true or false");
}

std::filesystem::path resolvePath(const YAML::Node& node, const std::string& key,
                                  const std::filesystem::path& base) {
    std::filesystem::path path = scalar(node, key);
    if (path.empty()) {
        fail(key, "must not be empty");
    }
    return normalPath(path.is_absolute() ? path : base / path);
}

std::filesystem::path normalPath(const std::filesystem::path& path) {
    auto normal = path.lexically_normal();
    // "/a/b/" would compare unequal to the "/a/b" libvirt reports, or to a mount's parent.
    return normal.has_filename() || normal == normal.root_path() ? normal : normal.parent_path();
}

std::chrono::seconds seconds(const YAML::Node& node, const std::string& key) {
    return std::chrono::seconds(positiveInteger(node, key, 86400));
}
}  // namespace gpuhost::agent::config_yaml

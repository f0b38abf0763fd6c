#pragma once

// Helpers shared by the config parsers (config.cpp, config_sections.cpp): each throws
// ConfigError naming the dotted key at fault.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "config.hpp"

namespace gpuhost::agent::config_yaml {

[[noreturn]] void fail(const std::string& key, const std::string& what);
void rejectUnknownKeys(const YAML::Node& node, const std::string& prefix,
                       const std::set<std::string>& allowed);
std::string scalar(const YAML::Node& node, const std::string& key);
std::uint64_t positiveInteger(const YAML::Node& node, const std::string& key, std::uint64_t max);
/// A binary size such as 16Gi, in bytes.
std::uint64_t byteSize(const YAML::Node& node, const std::string& key);
bool boolean(const YAML::Node& node, const std::string& key);
/// Lexically normal, without a trailing separator (except "/" itself).
std::filesystem::path normalPath(const std::filesystem::path& path);
std::filesystem::path resolvePath(const YAML::Node& node, const std::string& key,
                                  const std::filesystem::path& base);
std::chrono::seconds seconds(const YAML::Node& node, const std::string& key);
/// Image and instance type names: operator-chosen, shown to users, never used as paths.
bool isCatalogName(const std::string& name);

void parseLibvirt(Config& config, const YAML::Node& node);
void parseInstanceTypes(Config& config, const YAML::Node& node);
void parseCapacity(Config& config, const YAML::Node& node);
void parseHosts(Config& config, const YAML::Node& node);
void parseFilesystems(Config& config, const YAML::Node& node, const std::filesystem::path& base);
/// `clusters:` and `slurm:`; after instance_types (a controller type must be one of them).
void parseClusters(Config& config, const YAML::Node& node);
void parseSlurm(Config& config, const YAML::Node& node);
void parseKubernetes(Config& config, const YAML::Node& node);
void parseQuotas(Config& config, const YAML::Node& node);

}  // namespace gpuhost::agent::config_yaml

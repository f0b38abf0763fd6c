#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/instance_type.hpp"
#include "model/uuid.hpp"

namespace gpuhost::agent {

/// A configuration problem; the message starts with the dotted key at fault.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct TokenConfig {
    std::string name;
    std::array<std::uint8_t, 32> sha256{};
    bool allProjects = false;
    std::vector<model::Uuid> projects;
};

struct ImageConfig {
    std::string name;
    std::filesystem::path path;
    std::filesystem::path kernel;  // empty: boot from the disk's own bootloader
    std::filesystem::path initrd;
    std::string cmdline;
};

struct TlsConfig {
    std::filesystem::path cert;
    std::filesystem::path key;
};

struct Limits {
    std::size_t bodyBytes = 1 << 20;
    std::size_t userDataBytes = 64 << 10;
    std::size_t headerBytes = 16 << 10;
    unsigned maxConnections = 1024;
    std::chrono::seconds headerTimeout{10};
    std::chrono::seconds bodyTimeout{30};
    std::chrono::seconds idleTimeout{60};
    std::chrono::seconds shutdownGrace{10};
};

enum class VirtType { Kvm, Qemu };

struct Config {
    std::string region = "local";
    std::string listenHost = "127.0.0.1";
    std::uint16_t listenPort = 8080;
    std::filesystem::path stateDir;
    bool allowInsecureHttp = false;
    std::optional<TlsConfig> tls;
    std::string libvirtUri = "qemu:///system";
    VirtType virtType = VirtType::Kvm;
    std::vector<TokenConfig> tokens;
    std::vector<ImageConfig> images;
    std::vector<model::InstanceType> instanceTypes;
    Limits limits;
    std::string logLevel = "info";
    unsigned ioThreads = 0;        // 0: one per core
    unsigned blockingThreads = 4;  // libvirt, SQLite and process calls
};

/// Parses YAML text. Relative paths are resolved against `baseDir`.
/// Throws ConfigError naming the key for unknown keys and bad values.
Config parseConfig(const std::string& yamlText, const std::filesystem::path& baseDir);

/// Reads and parses a config file (relative paths resolve against its directory).
Config loadConfigFile(const std::filesystem::path& file);

/// True for 127.0.0.0/8 and ::1 (and "localhost").
bool isLoopbackHost(const std::string& host);

std::string_view nameOf(VirtType type);

}  // namespace gpuhost::agent

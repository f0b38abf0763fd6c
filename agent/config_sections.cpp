// The libvirt, instance_types and capacity sections of the config file.
#include <cmath>

#include "config_yaml.hpp"
#include "model/gpu.hpp"
#include "model/validation.hpp"

namespace gpuhost::agent::config_yaml {

namespace {

std::string libvirtName(const YAML::Node& node, const std::string& key) {
    std::string name = scalar(node, key);
    if (!isCatalogName(name)) {
        fail(key, "must be 1-63 lowercase letters, digits, '.', '-' or '_'");
    }
    return name;
}

// A model no inventory can report would leave the type out of stock forever: refuse it.
std::string gpuModel(const YAML::Node& node, const std::string& key) {
    std::string name = scalar(node, key);
    if (name.empty()) {
        return name;  // a CPU type may spell out gpu_model: ""
    }
    if (auto canonical = model::canonicalGpuModel(name)) {
        return *canonical;
    }
    std::string known;
    for (const auto& info : model::knownGpuModels()) {
        known += (known.empty() ? "" : ", ") + std::string(info.name);
    }
    fail(key, "unknown GPU model \"" + name + "\"; known models: " + known +
                  " (or NVIDIA's product name, as nvidia-smi (\"NVIDIA H100 80GB HBM3\") or GPU feature"
                  " discovery (\"NVIDIA-H100-80GB-HBM3\") write it, or nvidia-<4-hex-digit product id>)");
}

// Folders libvirtd and virtlogd use too: absolute, as they would not resolve a relative one
// against this file's folder.
std::filesystem::path absolutePath(const YAML::Node& node, const std::string& key) {
    std::filesystem::path path = scalar(node, key);
    if (!path.is_absolute()) {
        fail(key, "must be an absolute path");
    }
    return normalPath(path);
}

}  // namespace

std::uint64_t byteSize(const YAML::Node& node, const std::string& key) {
    auto parsed = model::parseBinarySize(scalar(node, key), key);
    if (!parsed) {
        fail(key, "must be a size such as 16Gi");
    }
    return *parsed;
}

void parseLibvirt(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "libvirt",
                      {"uri", "virt_type", "pool", "pool_path", "console_log_dir", "network", "bridge",
                       "tcg_cache_mib", "shutdown_timeout_s", "resync_interval_s", "hugepages"});
    if (node["uri"]) {
        config.libvirtUri = scalar(node["uri"], "libvirt.uri");
        if (config.libvirtUri.find("://") == std::string::npos) {
            fail("libvirt.uri", "must be a libvirt connection URI such as qemu:///system");
        }
    }
    if (node["virt_type"]) {
        std::string type = scalar(node["virt_type"], "libvirt.virt_type");
        if (type != "kvm" && type != "qemu") {
            fail("libvirt.virt_type", "must be kvm or qemu");
        }
        config.virtType = type == "kvm" ? VirtType::Kvm : VirtType::Qemu;
    }
    if (node["pool"]) {
        config.storagePool = libvirtName(node["pool"], "libvirt.pool");
    }
    if (node["pool_path"]) {
        config.poolPath = absolutePath(node["pool_path"], "libvirt.pool_path");
    }
    if (node["console_log_dir"]) {
        config.consoleLogDir = absolutePath(node["console_log_dir"], "libvirt.console_log_dir");
    }
    if (node["network"]) {
        config.network = libvirtName(node["network"], "libvirt.network");
    }
    if (node["bridge"]) {
        config.bridge = libvirtName(node["bridge"], "libvirt.bridge");
    }
    if (node["tcg_cache_mib"]) {
        config.tcgCacheMiB =
            static_cast<unsigned>(positiveInteger(node["tcg_cache_mib"], "libvirt.tcg_cache_mib", 4096));
    }
    if (node["shutdown_timeout_s"]) {
        config.shutdownTimeout = seconds(node["shutdown_timeout_s"], "libvirt.shutdown_timeout_s");
    }
    if (node["resync_interval_s"]) {
        config.resyncInterval = seconds(node["resync_interval_s"], "libvirt.resync_interval_s");
    }
    if (node["hugepages"]) {
        config.hugepageBytes = byteSize(node["hugepages"], "libvirt.hugepages");
        if (config.hugepageBytes != (2ull << 20) && config.hugepageBytes != (1ull << 30)) {
            fail("libvirt.hugepages", "must be 2Mi or 1Gi (x86 hugepage sizes)");
        }
    }
}

void parseFilesystems(Config& config, const YAML::Node& node, const std::filesystem::path& base) {
    rejectUnknownKeys(node, "filesystems", {"root", "max_size", "virtiofsd", "unmount_helper"});
    if (node["root"]) {
        config.filesystemsRoot = resolvePath(node["root"], "filesystems.root", base);
    }
    if (node["max_size"]) {
        config.filesystemMaxBytes = byteSize(node["max_size"], "filesystems.max_size");
    }
    if (node["virtiofsd"]) {
        config.virtiofsd = resolvePath(node["virtiofsd"], "filesystems.virtiofsd", base).string();
    }
    if (node["unmount_helper"]) {
        config.unmountHelper = resolvePath(node["unmount_helper"], "filesystems.unmount_helper", base);
    }
}

void parseHosts(Config& config, const YAML::Node& node) {
    if (!node.IsSequence() || node.size() == 0) {
        fail("hosts", "must be a non-empty list of {name, uri}");
    }
    std::set<std::string> names, uris;
    for (std::size_t i = 0; i < node.size(); ++i) {
        std::string key = "hosts[" + std::to_string(i) + "]";
        rejectUnknownKeys(node[i], key, {"name", "uri"});
        if (!node[i]["name"] || !node[i]["uri"]) {
            fail(key, "needs name and uri");
        }
        HostConfig host{libvirtName(node[i]["name"], key + ".name"), scalar(node[i]["uri"], key + ".uri")};
        if (host.uri.find("://") == std::string::npos) {
            fail(key + ".uri", "must be a libvirt connection URI such as qemu+ssh://root@gpu-02/system");
        }
        if (!names.insert(host.name).second) {
            fail(key + ".name", "duplicate host name");
        }
        // Two entries for one libvirt would hand out every GPU twice.
        if (!uris.insert(host.uri).second) {
            fail(key + ".uri", "duplicate host uri");
        }
        config.hosts.push_back(std::move(host));
    }
}

void parseCapacity(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "capacity", {"cpu_overcommit", "reserved_cpus", "reserved_memory"});
    if (node["cpu_overcommit"]) {
        std::string text = scalar(node["cpu_overcommit"], "capacity.cpu_overcommit");
        char* end = nullptr;
        double ratio = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(ratio) || ratio < 1.0 || ratio > 64.0) {
            fail("capacity.cpu_overcommit", "must be a number from 1 to 64");
        }
        config.capacity.cpuOvercommit = ratio;
    }
    if (node["reserved_cpus"]) {
        config.capacity.reservedCpus =
            static_cast<unsigned>(positiveInteger(node["reserved_cpus"], "capacity.reserved_cpus", 4096));
    }
    if (node["reserved_memory"]) {
        config.capacity.reservedMemoryBytes = byteSize(node["reserved_memory"], "capacity.reserved_memory");
    }
}

void parseInstanceTypes(Config& config, const YAML::Node& node) {
    if (!node.IsSequence()) {
        fail("instance_types", "must be a list");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < node.size(); ++i) {
        std::string key = "instance_types[" + std::to_string(i) + "]";
        const auto& item = node[i];
        rejectUnknownKeys(item, key, {"name", "cpu", "memory", "disk", "gpu_count", "gpu_model"});
        if (!item["name"] || !item["cpu"] || !item["memory"]) {
            fail(key, "needs name, cpu and memory");
        }
        model::InstanceType type;
        type.name = scalar(item["name"], key + ".name");
        if (!isCatalogName(type.name)) {
            fail(key + ".name", "must be 1-63 lowercase letters, digits, '.', '-' or '_'");
        }
        if (!names.insert(type.name).second) {
            fail(key + ".name", "duplicate instance type");
        }
        type.cpu = static_cast<unsigned>(positiveInteger(item["cpu"], key + ".cpu", 1024));
        type.memoryBytes = byteSize(item["memory"], key + ".memory");
        if (item["disk"]) {
            type.diskBytes = byteSize(item["disk"], key + ".disk");
        }
        if (item["gpu_count"] && scalar(item["gpu_count"], key + ".gpu_count") != "0") {
            type.gpuCount = static_cast<unsigned>(positiveInteger(item["gpu_count"], key + ".gpu_count", 64));
        }
        if (item["gpu_model"]) {
            type.gpuModel = gpuModel(item["gpu_model"], key + ".gpu_model");
        }
        if ((type.gpuCount == 0) != type.gpuModel.empty()) {
            fail(key + ".gpu_model", "gpu_count and gpu_model must be given together");
        }
        config.instanceTypes.push_back(std::move(type));
    }
}

}  // namespace gpuhost::agent::config_yaml

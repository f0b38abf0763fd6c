#include "cluster_spec.hpp"

#include <algorithm>
#include <charconv>
#include <numeric>
#include <set>

namespace gpuhost::slurm {

namespace {

using model::Error;
using model::Result;

bool isAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Slurm reads NodeName=DEFAULT / PartitionName=DEFAULT as "defaults for later lines".
bool isReservedWord(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return lower == "default" || lower == "all";
}

// An absolute path of safe characters: it is written unquoted into slurm.conf.
bool isSafePath(std::string_view path) {
    if (path.empty() || path.front() != '/' || path.size() > 200 ||
        path.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(path.begin(), path.end(),
                       [](char c) { return isAlnum(c) || c == '_' || c == '.' || c == '-' || c == '/'; });
}

// An IPv4 or IPv6 literal, or a hostname: only what addresses are made of.
bool isSafeAddress(std::string_view address) {
    return !address.empty() && address.size() <= kMaxTokenLength && isAlnum(address.front()) &&
           std::all_of(address.begin(), address.end(),
                       [](char c) { return isAlnum(c) || c == '.' || c == '-' || c == ':'; });
}

// Dynamic nodes that take Gres and Feature through `slurmd --conf` came with 22.05.
bool isSupportedVersion(std::string_view version) {
    if (!isSafeToken(version)) {
        return false;
    }
    unsigned major = 0;
    unsigned minor = 0;
    auto end = version.data() + version.size();
    auto [afterMajor, e1] = std::from_chars(version.data(), end, major);
    if (e1 != std::errc() || afterMajor == end || *afterMajor != '.') {
        return false;
    }
    auto [afterMinor, e2] = std::from_chars(afterMajor + 1, end, minor);
    if (e2 != std::errc()) {
        return false;
    }
    return major > 22 || (major == 22 && minor >= 5);
}

Result<void> validatePool(const PoolSpec& pool, const std::string& field) {
    // 40: node names add "-<index>" and must stay within a 63-character hostname.
    if (!isSafeToken(pool.name) || pool.name.size() > 40 || isReservedWord(pool.name)) {
        return Error::invalid(field + ".name",
                              "must be 1-40 of [A-Za-z0-9_.-], starting with a letter or digit");
    }
    if (pool.cpus == 0) {
        return Error::invalid(field + ".cpus", "must be at least 1");
    }
    if (pool.memoryMiB < 256) {
        return Error::invalid(field + ".memoryMiB", "must be at least 256");
    }
    if (pool.gpuCount > 64) {
        return Error::invalid(field + ".gpuCount", "must be at most 64");
    }
    if (pool.gpuCount > 0 && !isSafeToken(pool.gpuModel)) {
        return Error::invalid(field + ".gpuModel", "must be 1-63 of [A-Za-z0-9_.-]");
    }
    if (pool.gpuCount == 0 && !pool.gpuModel.empty()) {
        return Error::invalid(field + ".gpuModel", "must be empty without GPUs");
    }
    for (const auto& partition : pool.partitions) {
        if (!isSafeToken(partition) || isReservedWord(partition)) {
            return Error::invalid(field + ".partitions", "must be 1-63 of [A-Za-z0-9_.-], not DEFAULT");
        }
    }
    return {};
}

Result<void> validateLayout(const Layout& layout) {
    if (!isSafeToken(layout.slurmUser)) {
        return Error::invalid("layout.slurmUser", "must be 1-63 of [A-Za-z0-9_.-]");
    }
    for (const auto* path :
         {&layout.stateSaveLocation, &layout.slurmdSpoolDir, &layout.logDir, &layout.pidDir}) {
        if (!isSafePath(*path)) {
            return Error::invalid("layout", "paths must be absolute, of [A-Za-z0-9_./-], without ..");
        }
    }
    auto port = [](unsigned p) { return p > 0 && p < 65536; };
    if (!port(layout.slurmctldPort) || !port(layout.slurmdPort)) {
        return Error::invalid("layout", "ports must be 1-65535");
    }
    return {};
}

}  // namespace

bool isSafeToken(std::string_view text) {
    return !text.empty() && text.size() <= kMaxTokenLength && isAlnum(text.front()) &&
           std::all_of(text.begin(), text.end(),
                       [](char c) { return isAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

Result<void> validate(const ClusterSpec& spec, const Layout& layout) {
    if (!isSafeToken(spec.name)) {
        return Error::invalid("name", "must be 1-63 of [A-Za-z0-9_.-], starting with a letter or digit");
    }
    if (!isSafeToken(spec.controllerHostname)) {
        return Error::invalid("controllerHostname", "must be 1-63 of [A-Za-z0-9_.-]");
    }
    if (!isSafeAddress(spec.controllerAddress)) {
        return Error::invalid("controllerAddress", "must be an IP address or hostname");
    }
    if (!isSupportedVersion(spec.slurmVersion)) {
        return Error::invalid("version", "must be a Slurm version, 22.05 or later");
    }
    if (spec.pools.empty()) {
        return Error::invalid("nodePools", "at least one pool is needed");
    }
    std::set<std::string> pools;
    for (std::size_t i = 0; i < spec.pools.size(); ++i) {
        std::string field = "nodePools[" + std::to_string(i) + "]";
        if (auto ok = validatePool(spec.pools[i], field); !ok) {
            return ok.error();
        }
        if (!pools.insert(spec.pools[i].name).second) {
            return Error::invalid(field + ".name", "names a pool twice");
        }
    }
    if (!spec.defaultPartition.empty() &&
        (!isSafeToken(spec.defaultPartition) || isReservedWord(spec.defaultPartition))) {
        return Error::invalid("defaultPartition", "must be 1-63 of [A-Za-z0-9_.-], not DEFAULT");
    }
    for (const auto& host : spec.loginHosts) {
        if (!isSafeToken(host)) {
            return Error::invalid("loginNodes", "hostnames must be 1-63 of [A-Za-z0-9_.-]");
        }
    }
    auto total =
        std::accumulate(spec.pools.begin(), spec.pools.end(), 0ULL,
                        [](unsigned long long sum, const PoolSpec& pool) { return sum + pool.count; });
    if (total > maxNodes(spec)) {
        return Error::invalid("maxNodes", "is below the pools' node count");
    }
    return validateLayout(layout);
}

std::string nodeName(const PoolSpec& pool, unsigned index) {
    return pool.name + "-" + std::to_string(index);
}

std::string nodeSetName(const PoolSpec& pool) {
    return pool.name + "_set";
}

unsigned maxNodes(const ClusterSpec& spec) {
    return spec.maxNodes == 0 ? kDefaultMaxNodes : spec.maxNodes;
}

}  // namespace gpuhost::slurm

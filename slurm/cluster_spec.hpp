#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::slurm {

/// One node pool: every node has the same instance type. Its nodes are dynamic Slurm
/// nodes named <name>-<index> carrying Feature=<name>, so the pool's NodeSet (and so its
/// partitions) picks them up without any edit to slurm.conf.
struct PoolSpec {
    std::string name;
    unsigned count = 0;
    unsigned cpus = 0;
    std::uint64_t memoryMiB = 0;  // the instance type's memory, not Slurm's RealMemory
    unsigned gpuCount = 0;
    std::string gpuModel;                 // Slurm's gres type, e.g. h100; empty when gpuCount is 0
    std::vector<std::string> partitions;  // empty: the default partition only
};

/// What a cluster's configs are generated from. Names are validated by the API already;
/// the generators check them again (see isSafeToken) so no text can inject a line.
struct ClusterSpec {
    std::string name;
    std::string controllerHostname;
    std::string controllerAddress;  // where slurmd and clients reach slurmctld
    std::string slurmVersion;       // "22.05.8": dynamic nodes with --conf need 22.05 or later
    std::vector<PoolSpec> pools;
    std::string defaultPartition;         // empty: the first partition named by a pool
    std::vector<std::string> loginHosts;  // separate login nodes; empty: the controller is the login node
    unsigned maxNodes = 0;                // MaxNodeCount; 0: kDefaultMaxNodes
};

/// Paths, ports and plugins of the machines the configs run on. The defaults are Debian
/// 12's packaged layout in a guest with systemd and cgroup v2; the host-side Slurm test
/// overrides them to run on loopback next to any system Slurm. No munge socket: a
/// configless slurmd fetches its configs before it reads AuthInfo, so munged must listen
/// on its default socket anyway.
struct Layout {
    std::string slurmUser = "slurm";
    std::string stateSaveLocation = "/var/lib/slurm/slurmctld";
    std::string slurmdSpoolDir = "/var/lib/slurm/slurmd";
    std::string logDir = "/var/log/slurm";
    std::string pidDir = "/run";
    unsigned slurmctldPort = 6817;
    unsigned slurmdPort = 6818;
    bool cgroupTracking = true;  // false: proctrack/linuxproc, for hosts without cgroup v2
};

constexpr unsigned kDefaultMaxNodes = 256;
constexpr std::size_t kMaxTokenLength = 63;

/// [A-Za-z0-9_.-], 1..63 characters, starting with a letter or digit: nothing that can end
/// a Slurm key=value, start a new line, or be read as a command-line option.
bool isSafeToken(std::string_view text);

/// Checks every name, path and number the generators write; the Error names the field.
model::Result<void> validate(const ClusterSpec& spec, const Layout& layout);

/// The Slurm node name of a pool's index-th node. Callers reuse the lowest free index so
/// names stay within <pool>-[0-(maxNodes-1)], the range gres.conf covers.
std::string nodeName(const PoolSpec& pool, unsigned index);

/// The NodeSet holding a pool's nodes: never a node name, which always ends in a digit.
std::string nodeSetName(const PoolSpec& pool);

unsigned maxNodes(const ClusterSpec& spec);

}  // namespace gpuhost::slurm

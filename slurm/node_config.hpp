#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster_spec.hpp"
#include "model/error.hpp"

namespace gpuhost::slurm {

/// The memory Slurm may hand to jobs on a node of `memoryMiB`: the type's memory less
/// max(64 MiB, 8 %, rounded up). slurmd refuses a node whose RealMemory exceeds what it
/// sees (`slurmd -C`), and the kernel and firmware keep some: a 768 MiB guest shows 721
/// (gives 704), a 512 MiB one 470 (gives 448); larger guests lose 2-4 %, so 8 % is ample.
std::uint64_t realMemoryMiB(std::uint64_t memoryMiB);

/// The `slurmd --conf` text of a pool's dynamic node:
/// "RealMemory=<n> Gres=gpu:<model>:<count> Feature=<pool>" (no Gres without GPUs).
/// The node reports its own CPUs and topology.
std::string slurmdConf(const PoolSpec& pool);

/// slurmd's arguments after the program name for node `index` of `pool`, one per argv
/// entry: -D (foreground, for systemd) --conf-server <address>:<port> -Z -N <name> --conf <…>.
model::Result<std::vector<std::string>> slurmdArgs(const ClusterSpec& spec, const Layout& layout,
                                                   const std::string& poolName, unsigned index);

/// A systemd drop-in for Debian's slurmd.service running that slurmd: it clears the
/// unit's ConditionPathExists=/etc/slurm/slurm.conf (configless nodes have none) and
/// restarts slurmd, which does not retry when slurmctld is not up yet.
model::Result<std::string> slurmdDropIn(const ClusterSpec& spec, const Layout& layout,
                                        const std::string& poolName, unsigned index);

/// gres.conf: one explicit line per GPU pool over its node names (Debian's 22.05 has no
/// NVML plugin to detect them): NodeName=<pool>-[0-<max-1>] Name=gpu Type=<model> File=/dev/nvidia[0-<n-1>].
model::Result<std::string> gresConf(const ClusterSpec& spec);

/// cgroup.conf for cgroup v2 under systemd: cores, memory and devices confined. Without
/// layout.cgroupTracking: the cgroup/v1 plugin and no constraints, because slurmd 22.05
/// loads a cgroup plugin even with proctrack/linuxproc and its autodetection refuses a
/// hybrid hierarchy (the host test's machines), and 22.05 has no CgroupPlugin=disabled.
std::string cgroupConf(const Layout& layout = {});

}  // namespace gpuhost::slurm

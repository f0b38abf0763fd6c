#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cluster_spec.hpp"
#include "model/error.hpp"

namespace gpuhost::slurm {

/// A partition and the pools whose nodes it holds, in the order pools first name it.
struct Partition {
    std::string name;
    std::vector<std::string> nodeSets;
    bool isDefault = false;
    // The smallest RealMemory per CPU of its pools. Without a default, CR_Core_Memory gives a
    // job that names no --mem the whole node's memory: one job per node, even on 8 GPUs.
    std::uint64_t defMemPerCpuMiB = 0;
};

/// The partitions of a cluster: each pool's partitions, plus the default one for pools that
/// name none. Exactly one is the default: spec.defaultPartition, else the first one named,
/// else "main".
model::Result<std::vector<Partition>> partitions(const ClusterSpec& spec);

/// The controller's slurm.conf. Configless: slurmd fetches it (with gres.conf and
/// cgroup.conf) from slurmctld, so only the controller and login nodes hold it. Nodes are
/// dynamic (`slurmd -Z`): no NodeName lines, so scaling never edits this file (22.05 kills
/// slurmctld on `scontrol reconfigure` when the number of NodeName lines changes).
model::Result<std::string> slurmConf(const ClusterSpec& spec, const Layout& layout = {});

}  // namespace gpuhost::slurm

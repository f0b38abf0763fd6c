#pragma once

#include <chrono>
#include <string>

#include "model/quotas.hpp"

namespace gpuhost::agent {

/// Limits and timings of the cluster machinery (config: `clusters:`).
struct ClusterOptions {
    unsigned maxNodesPerPool = 64;
    unsigned maxNodesPerCluster = 128;
    std::string defaultControllerType;                // empty: the smallest type without GPUs
    std::chrono::milliseconds observeInterval{5000};  // how often the scheduler is asked (freshness)
    std::chrono::milliseconds drainRecheck{10000};    // how often a draining node is looked at again
    std::chrono::milliseconds bootRecheck{3000};      // how often a booting guest is asked again
    model::Quotas quotas;                             // clusters and their users; members count as instances
};

}  // namespace gpuhost::agent

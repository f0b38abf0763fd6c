#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

#include "model/quotas.hpp"

#include "domain_spec.hpp"
#include "services/host_registry.hpp"

namespace gpuhost::agent {

/// How instances become domains on the hosts (from the config).
struct InstanceOptions {
    std::filesystem::path scratchDir;     // seed ISOs are built here, then uploaded
    std::filesystem::path consoleLogDir;  // serial console logs, one per instance
    std::string network = "default";
    std::string bridge;
    drivers::Accelerator accelerator = drivers::Accelerator::Kvm;
    unsigned tcgCacheMiB = 0;
    std::chrono::milliseconds shutdownTimeout{60000};
    std::chrono::milliseconds resyncInterval{30000};
    std::size_t userDataLimit = 64 << 10;
    Capacity capacity;                // applies to every host
    std::uint64_t hugepageBytes = 0;  // hugepages backing GPU instances' memory (0: none)
    std::string virtiofsd = "/usr/lib/qemu/virtiofsd";
    model::Quotas quotas;  // instances per project and in the region

    HostOptions hostOptions() const { return {network, bridge, capacity, hugepageBytes}; }
};

}  // namespace gpuhost::agent

#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include "model/gpu.hpp"
#include "model/uuid.hpp"

namespace gpuhost::drivers {

enum class Accelerator { Kvm, Tcg };

/// Everything a domain definition needs, already validated and resolved to paths.
/// No field is taken from a user without validation: names are derived from ids,
/// `hostname` is a validated resource name and goes into <metadata> only.
struct DomainSpec {
    model::Uuid instanceId;
    model::Uuid projectId;
    model::Uuid agentId;  // the installation that owns the domain
    std::string hostname;
    unsigned vcpus = 1;
    std::uint64_t memoryBytes = 0;
    Accelerator accelerator = Accelerator::Kvm;
    unsigned tcgCacheMiB = 0;  // TCG only: translation-block cache (0: QEMU's default)
    std::string rootDisk;      // qcow2 overlay
    std::string seedIso;     // NoCloud seed (label cidata), on virtio-scsi: Debian's cloud kernel has no AHCI
    std::string consoleLog;  // the serial console, logged to a file
    std::string macAddress;  // fixed, so network-config can match on it
    std::string network = "default";  // libvirt network, unless `bridge` is set
    std::string bridge;
    std::string kernel;  // direct kernel boot when set
    std::string initrd;
    std::string cmdline;

    // GPU passthrough (empty for CPU types).
    std::vector<model::PciAddress> hostDevices;  // every function of every allocated IOMMU group
    std::uint64_t pciHole64Bytes = 0;            // 0: QEMU's default hole
    std::vector<unsigned> cpuset;                // host CPUs for vCPUs and emulator (empty: float)
    std::vector<int> memoryNodes;                // host NUMA nodes for guest memory (strict)
    std::uint64_t hugepageBytes = 0;             // hugepage size backing guest memory (0: none)

    // Shared filesystems over virtiofs (guest memory becomes shared memfd).
    struct SharedDirectory {
        std::string tag;     // the filesystem id: what the guest mounts
        std::string source;  // the directory on the host
    };
    std::vector<SharedDirectory> sharedDirectories;
    std::string virtiofsd = "/usr/lib/qemu/virtiofsd";
};

}  // namespace gpuhost::drivers

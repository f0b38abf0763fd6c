#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpuhost::model {

/// A PCI address, domain:bus:slot.function ("0000:18:00.0").
struct PciAddress {
    std::uint32_t domain = 0;
    std::uint8_t bus = 0;
    std::uint8_t slot = 0;
    std::uint8_t function = 0;

    std::string str() const;
    /// Exactly "dddd:bb:ss.f" in hex (slot < 0x20, function < 8); nullopt otherwise.
    static std::optional<PciAddress> parse(std::string_view text);
    auto operator<=>(const PciAddress&) const = default;
};

/// A PCI device as the host's node-device API describes it.
struct PciDevice {
    std::string name;    // node-device name, e.g. pci_0000_18_00_0
    std::string parent;  // node-device name of the bridge above it ("" at the root)
    PciAddress address;
    std::uint16_t vendorId = 0;
    std::uint16_t productId = 0;
    std::uint32_t classCode = 0;  // 24-bit class/subclass/prog-if
    int numaNode = -1;            // -1: unknown
    int iommuGroup = -1;          // -1: no IOMMU group reported (no passthrough)
    std::vector<PciAddress> iommuGroupMembers;
};

/// What the agent knows of one NVIDIA product id.
struct GpuModelInfo {
    std::uint16_t productId;
    std::string_view name;          // the name instance types use in `gpu_model`
    std::uint64_t largestBarBytes;  // BAR1 (framebuffer aperture); sizes the 64-bit PCI hole
    std::string_view productName;   // NVIDIA's own name, as nvidia-smi prints it
};

inline constexpr std::uint16_t kNvidiaVendorId = 0x10de;

/// The known data-centre GPUs; nullptr for other products (which get a generic name).
const GpuModelInfo* findGpuModel(std::uint16_t productId);
std::vector<GpuModelInfo> knownGpuModels();

/// The name the inventory gives a GPU of `gpuModel`, written by an operator as the canonical
/// name ("H100-SXM5-80GB"), nvidia-smi's product name ("NVIDIA H100 80GB HBM3"), the GPU
/// feature discovery label (spaces as '-': "NVIDIA-H100-80GB-HBM3") or "nvidia-<4 hex
/// digits>" (the name of a product the table lacks); case-insensitive. nullopt: no GPU of
/// the inventory can ever carry that name.
std::optional<std::string> canonicalGpuModel(std::string_view gpuModel);

/// A GPU that can be passed through as a whole.
struct Gpu {
    PciAddress address;
    std::string model;
    int numaNode = -1;
    std::string pcieSwitch;             // node-device name of its PCIe switch ("" unknown)
    std::vector<PciAddress> functions;  // every function of its IOMMU group (travel together)
    std::uint64_t barBytes = 0;
};

/// An NVSwitch (HGX boards): passed through, with every GPU, to a VM that takes all of them.
struct NvSwitch {
    PciAddress address;
    std::vector<PciAddress> functions;
};

/// A host's passthrough-capable NVIDIA devices.
struct GpuInventory {
    std::vector<Gpu> gpus;  // sorted by address
    std::vector<NvSwitch> nvswitches;
    /// NVIDIA GPUs left out, with why (no IOMMU group: VT-d/AMD-Vi off, or the group
    /// holds a device that is neither the GPU's function nor a bridge).
    std::vector<std::string> skipped;
};

/// The index of the GPU at `address` in `gpus`, if it is there.
std::optional<std::size_t> findGpu(const std::vector<Gpu>& gpus, const PciAddress& address);

/// Pure: the GPUs and NVSwitches among a host's PCI devices.
GpuInventory gpuInventory(const std::vector<PciDevice>& devices);

/// The 64-bit PCI hole a guest needs for `barBytes` of GPUs' BARs: their sum plus room
/// for the small BARs, rounded up to a power of two (BARs are naturally aligned).
std::uint64_t pciHole64Bytes(const std::vector<std::uint64_t>& barBytes);

}  // namespace gpuhost::model

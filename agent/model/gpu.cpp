#include "model/gpu.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>

namespace gpuhost::model {

namespace {

constexpr std::uint64_t kGiB = 1ull << 30;

// NVIDIA PCI product ids (pci.ids) with BAR1 sizes as the boards expose them, and the
// product names nvidia-smi prints (GPU feature discovery's label is the same with '-').
constexpr std::array kGpuModels{
    GpuModelInfo{0x20b0, "A100-SXM4-40GB", 64 * kGiB, "NVIDIA A100-SXM4-40GB"},
    GpuModelInfo{0x20f1, "A100-PCIE-40GB", 64 * kGiB, "NVIDIA A100-PCIE-40GB"},
    GpuModelInfo{0x20b2, "A100-SXM4-80GB", 128 * kGiB, "NVIDIA A100-SXM4-80GB"},
    GpuModelInfo{0x20b5, "A100-PCIE-80GB", 128 * kGiB, "NVIDIA A100 80GB PCIe"},
    GpuModelInfo{0x2330, "H100-SXM5-80GB", 128 * kGiB, "NVIDIA H100 80GB HBM3"},
    GpuModelInfo{0x2331, "H100-PCIE-80GB", 128 * kGiB, "NVIDIA H100 PCIe"},
    GpuModelInfo{0x2321, "H100-NVL-94GB", 128 * kGiB, "NVIDIA H100 NVL"},
    GpuModelInfo{0x2335, "H200-SXM-141GB", 256 * kGiB, "NVIDIA H200"},
    GpuModelInfo{0x233b, "H200-NVL-141GB", 256 * kGiB, "NVIDIA H200 NVL"},
    GpuModelInfo{0x2901, "B200-SXM-180GB", 256 * kGiB, "NVIDIA B200"},
    GpuModelInfo{0x26b9, "L40S-48GB", 64 * kGiB, "NVIDIA L40S"},
    GpuModelInfo{0x26b5, "L40-48GB", 64 * kGiB, "NVIDIA L40"},
};

// An unknown NVIDIA GPU still passes through; its BAR is assumed as large as an 80 GB part's.
constexpr std::uint64_t kUnknownBarBytes = 128 * kGiB;

bool isBridge(std::uint32_t classCode) {
    return (classCode >> 8) == 0x0604;
}
bool isGpu(const PciDevice& device) {
    return device.vendorId == kNvidiaVendorId && (device.classCode >> 16) == 0x03;
}
bool isNvSwitch(const PciDevice& device) {
    return device.vendorId == kNvidiaVendorId && (device.classCode >> 8) == 0x0680;
}

bool parseHex(std::string_view text, std::size_t digits, std::uint32_t& out) {
    if (text.size() != digits) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
    return ec == std::errc() && end == text.data() + text.size();
}

// The name inventories give a product the table lacks.
std::string genericGpuName(std::uint16_t productId) {
    char generic[24];
    std::snprintf(generic, sizeof(generic), "nvidia-%04x", productId);
    return generic;
}

// Lowercase with spaces as '-': nvidia-smi's name and the GFD label then compare equal.
std::string foldGpuName(std::string_view name) {
    std::string folded;
    for (char c : name) {
        folded += c == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return folded;
}

using ByAddress = std::map<PciAddress, const PciDevice*>;

// Every function of `device`'s IOMMU group that must go to the VM with it, or why it cannot.
std::optional<std::vector<PciAddress>> groupFunctions(const PciDevice& device, const ByAddress& byAddress,
                                                      std::string& why) {
    if (device.iommuGroup < 0) {
        why = "no IOMMU group (is the IOMMU enabled?)";
        return std::nullopt;
    }
    std::vector<PciAddress> functions{device.address};
    for (const auto& member : device.iommuGroupMembers) {
        if (member == device.address) {
            continue;
        }
        auto it = byAddress.find(member);
        if (it != byAddress.end() && isBridge(it->second->classCode)) {
            continue;  // bridges stay with the host; VFIO only needs the endpoints
        }
        bool sameCard = member.domain == device.address.domain && member.bus == device.address.bus &&
                        member.slot == device.address.slot;
        if (it == byAddress.end() || !sameCard || it->second->vendorId != kNvidiaVendorId) {
            why = "IOMMU group " + std::to_string(device.iommuGroup) + " also holds " + member.str();
            return std::nullopt;
        }
        functions.push_back(member);
    }
    std::sort(functions.begin(), functions.end());
    return functions;
}

// Two GPUs under one PCIe switch share its upstream port: the bridge above their
// downstream ports (the downstream port itself when there is no second level).
std::string pcieSwitchOf(const PciDevice& device, const std::map<std::string, const PciDevice*>& byName) {
    auto port = byName.find(device.parent);
    if (port == byName.end() || !isBridge(port->second->classCode)) {
        return "";
    }
    auto upstream = byName.find(port->second->parent);
    if (upstream != byName.end() && isBridge(upstream->second->classCode)) {
        return upstream->first;
    }
    return port->first;
}

}  // namespace

std::string PciAddress::str() const {
    char text[16];
    std::snprintf(text, sizeof(text), "%04x:%02x:%02x.%x", static_cast<unsigned>(domain), bus, slot,
                  function);
    return text;
}

std::optional<PciAddress> PciAddress::parse(std::string_view text) {
    // dddd:bb:ss.f
    if (text.size() != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.') {
        return std::nullopt;
    }
    std::uint32_t domain = 0, bus = 0, slot = 0, function = 0;
    if (!parseHex(text.substr(0, 4), 4, domain) || !parseHex(text.substr(5, 2), 2, bus) ||
        !parseHex(text.substr(8, 2), 2, slot) || !parseHex(text.substr(11, 1), 1, function) || slot >= 0x20 ||
        function >= 8) {
        return std::nullopt;
    }
    return PciAddress{domain, static_cast<std::uint8_t>(bus), static_cast<std::uint8_t>(slot),
                      static_cast<std::uint8_t>(function)};
}

const GpuModelInfo* findGpuModel(std::uint16_t productId) {
    auto it = std::find_if(kGpuModels.begin(), kGpuModels.end(),
                           [&](const GpuModelInfo& info) { return info.productId == productId; });
    return it == kGpuModels.end() ? nullptr : &*it;
}

std::vector<GpuModelInfo> knownGpuModels() {
    return {kGpuModels.begin(), kGpuModels.end()};
}

std::optional<std::string> canonicalGpuModel(std::string_view gpuModel) {
    std::string folded = foldGpuName(gpuModel);
    // The names first: GFD's "NVIDIA-B200" would otherwise read as product id 0xb200.
    for (const auto& info : kGpuModels) {
        if (folded == foldGpuName(info.name) || folded == foldGpuName(info.productName)) {
            return std::string(info.name);
        }
    }
    constexpr std::string_view kGenericPrefix = "nvidia-";
    std::uint32_t productId = 0;
    if (!folded.starts_with(kGenericPrefix) ||
        !parseHex(std::string_view(folded).substr(kGenericPrefix.size()), 4, productId)) {
        return std::nullopt;
    }
    // A known product's id still names it: the inventory reports it by name.
    const auto* known = findGpuModel(static_cast<std::uint16_t>(productId));
    return known != nullptr ? std::string(known->name)
                            : genericGpuName(static_cast<std::uint16_t>(productId));
}

std::optional<std::size_t> findGpu(const std::vector<Gpu>& gpus, const PciAddress& address) {
    auto it = std::find_if(gpus.begin(), gpus.end(), [&](const Gpu& gpu) { return gpu.address == address; });
    return it == gpus.end() ? std::nullopt : std::optional(static_cast<std::size_t>(it - gpus.begin()));
}

GpuInventory gpuInventory(const std::vector<PciDevice>& devices) {
    ByAddress byAddress;
    std::map<std::string, const PciDevice*> byName;
    for (const auto& device : devices) {
        byAddress[device.address] = &device;
        byName[device.name] = &device;
    }
    GpuInventory inventory;
    for (const auto& device : devices) {
        if (!isGpu(device) && !isNvSwitch(device)) {
            continue;
        }
        if (device.address.function != 0 && isGpu(device)) {
            continue;  // a secondary display function travels with function 0
        }
        std::string why;
        auto functions = groupFunctions(device, byAddress, why);
        if (!functions) {
            inventory.skipped.push_back(device.address.str() + ": " + why);
            continue;
        }
        if (isNvSwitch(device)) {
            inventory.nvswitches.push_back({device.address, std::move(*functions)});
            continue;
        }
        const auto* known = findGpuModel(device.productId);
        inventory.gpus.push_back(
            {device.address, known != nullptr ? std::string(known->name) : genericGpuName(device.productId),
             device.numaNode, pcieSwitchOf(device, byName), std::move(*functions),
             known != nullptr ? known->largestBarBytes : kUnknownBarBytes});
    }
    auto byAddr = [](const auto& a, const auto& b) { return a.address < b.address; };
    std::sort(inventory.gpus.begin(), inventory.gpus.end(), byAddr);
    // Placement keeps a host's GPUs in a 64-bit set; no board has more.
    constexpr std::size_t kMaxGpus = 64;
    for (std::size_t i = kMaxGpus; i < inventory.gpus.size(); ++i) {
        inventory.skipped.push_back(inventory.gpus[i].address.str() + ": more than 64 GPUs on one host");
    }
    if (inventory.gpus.size() > kMaxGpus) {
        inventory.gpus.resize(kMaxGpus);
    }
    std::sort(inventory.nvswitches.begin(), inventory.nvswitches.end(), byAddr);
    return inventory;
}

std::uint64_t pciHole64Bytes(const std::vector<std::uint64_t>& barBytes) {
    // 64 MiB per device covers BAR3 and the other small 64-bit BARs.
    std::uint64_t total = 0;
    for (auto bar : barBytes) {
        total += bar + (64ull << 20);
    }
    std::uint64_t hole = 1ull << 30;
    while (hole < total) {
        hole <<= 1;
    }
    return hole;
}

}  // namespace gpuhost::model

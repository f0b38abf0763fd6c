#pragma once

#include <string>
#include <vector>

#include "hypervisor.hpp"
#include "model/gpu.hpp"

namespace gpuhost::test {

/// The PCI devices of an HGX H100 board as the node-device API reports them: 8 GPUs
/// (four per NUMA node, two per PCIe switch), 4 NVSwitches, one NIC.
inline std::vector<model::PciDevice> hgxH100Devices() {
    std::vector<model::PciDevice> devices;
    auto add = [&](const char* address, std::uint16_t vendor, std::uint16_t product, std::uint32_t cls,
                   int numa, std::string parent) {
        auto parsed = *model::PciAddress::parse(address);
        char name[32];
        std::snprintf(name, sizeof(name), "pci_%04x_%02x_%02x_%x", static_cast<unsigned>(parsed.domain),
                      parsed.bus, parsed.slot, parsed.function);
        devices.push_back({name,
                           std::move(parent),
                           parsed,
                           vendor,
                           product,
                           cls,
                           numa,
                           static_cast<int>(devices.size()),
                           {parsed}});
    };
    const char* gpus[] = {"0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
                          "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0"};
    const char* switches[] = {"0000:16:00.0", "0000:38:00.0", "0000:98:00.0", "0000:b8:00.0"};
    for (int s = 0; s < 4; ++s) {
        add(switches[s], 0x1000, 0xc030, 0x060400, s / 2, "");
    }
    for (int g = 0; g < 8; ++g) {
        add(gpus[g], 0x10de, 0x2330, 0x030200, g / 4, devices[static_cast<std::size_t>(g / 2)].name);
    }
    for (const char* nvswitch : {"0000:05:00.0", "0000:06:00.0", "0000:85:00.0", "0000:86:00.0"}) {
        add(nvswitch, 0x10de, 0x22a3, 0x068000, nvswitch[5] == '0' ? 0 : 1, "");
    }
    add("0000:4b:00.0", 0x15b3, 0x1021, 0x020000, 0, "");
    return devices;
}

/// 2 NUMA cells of 112 CPUs and 1 TiB each.
inline drivers::HostResources hgxResources() {
    drivers::HostResources resources{224, 2048ull << 30, {}};
    for (int cell = 0; cell < 2; ++cell) {
        drivers::NumaCell numa{cell, {}, 1024ull << 30};
        for (unsigned cpu = 0; cpu < 112; ++cpu) {
            numa.cpus.push_back(static_cast<unsigned>(cell) * 112 + cpu);
        }
        resources.cells.push_back(std::move(numa));
    }
    return resources;
}

}  // namespace gpuhost::test

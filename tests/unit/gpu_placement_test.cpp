#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>

#include "model/gpu.hpp"
#include "model/placement.hpp"

using namespace gpuhost::model;

namespace {

PciAddress at(const char* text) {
    return *PciAddress::parse(text);
}

PciDevice device(const char* name, const char* parent, const char* address, std::uint16_t vendor,
                 std::uint16_t product, std::uint32_t cls, int numa, int group,
                 std::vector<const char*> members = {}) {
    PciDevice d{name, parent, at(address), vendor, product, cls, numa, group, {}};
    d.iommuGroupMembers.push_back(d.address);
    for (const auto* member : members) {
        d.iommuGroupMembers.push_back(at(member));
    }
    return d;
}

// Two NUMA nodes, each with two PCIe switches holding two GPUs each (an HGX H100 board).
std::vector<Gpu> hgx() {
    std::vector<Gpu> gpus;
    const char* addresses[] = {"0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
                               "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0"};
    for (int i = 0; i < 8; ++i) {
        gpus.push_back({at(addresses[i]),
                        "H100-SXM5-80GB",
                        i / 4,
                        "sw" + std::to_string(i / 2),
                        {at(addresses[i])},
                        128ull << 30});
    }
    return gpus;
}

HostView view(const std::vector<Gpu>& gpus, std::vector<int> taken = {}, double cpus = 224,
              double memory = 2048.0 * (1ull << 30)) {
    HostView host{cpus, memory, &gpus, 0, true};
    for (int t : taken) {
        host.gpuTaken |= GpuMask{1} << t;
    }
    return host;
}

const double kGiB = 1ull << 30;

}  // namespace

TEST_CASE("PCI addresses parse strictly and print canonically") {
    CHECK(at("0000:18:00.0").str() == "0000:18:00.0");
    CHECK(at("0001:ab:1f.7").str() == "0001:ab:1f.7");
    for (const char* bad : {"", "0000:18:00", "0000:18:00.8", "0000:18:20.0", "000g:18:00.0", "0000-18:00.0",
                            "0000:18:00.0 ", "+000:18:00.0", "0000:18:0x.0"}) {
        CAPTURE(bad);
        CHECK_FALSE(PciAddress::parse(bad));
    }
}

TEST_CASE("inventory: NVIDIA GPUs and NVSwitches with their IOMMU groups, models and switches") {
    std::vector<PciDevice> devices{
        device("pci_0000_16_00_0", "pci_0000_15_01_0", "0000:16:00.0", 0x1000, 0xc030, 0x060400, 0, 10),
        device("pci_0000_17_00_0", "pci_0000_16_00_0", "0000:17:00.0", 0x1000, 0xc030, 0x060400, 0, 11),
        device("pci_0000_18_00_0", "pci_0000_17_00_0", "0000:18:00.0", 0x10de, 0x2330, 0x030200, 0, 20),
        // A consumer GPU whose audio function shares its group: both travel.
        device("pci_0000_41_00_0", "", "0000:41:00.0", 0x10de, 0x2684, 0x030000, 1, 30, {"0000:41:00.1"}),
        device("pci_0000_41_00_1", "", "0000:41:00.1", 0x10de, 0x22ba, 0x040300, 1, 30, {"0000:41:00.0"}),
        // A GPU sharing its group with a NIC cannot be passed alone.
        device("pci_0000_51_00_0", "", "0000:51:00.0", 0x10de, 0x20b2, 0x030200, 1, 40, {"0000:52:00.0"}),
        device("pci_0000_52_00_0", "", "0000:52:00.0", 0x15b3, 0x1021, 0x020000, 1, 40, {"0000:51:00.0"}),
        // No IOMMU: skipped with the reason.
        device("pci_0000_61_00_0", "", "0000:61:00.0", 0x10de, 0x20f1, 0x030200, 1, -1),
        device("pci_0000_05_00_0", "", "0000:05:00.0", 0x10de, 0x22a3, 0x068000, 0, 50),
        device("pci_0000_07_00_0", "", "0000:07:00.0", 0x144d, 0xa80a, 0x010802, 0, 60),
    };
    auto inventory = gpuInventory(devices);
    REQUIRE(inventory.gpus.size() == 2);
    CHECK(inventory.gpus[0].address.str() == "0000:18:00.0");
    CHECK(inventory.gpus[0].model == "H100-SXM5-80GB");
    CHECK(inventory.gpus[0].numaNode == 0);
    CHECK(inventory.gpus[0].pcieSwitch == "pci_0000_16_00_0");
    CHECK(inventory.gpus[0].barBytes == 128ull << 30);
    CHECK(inventory.gpus[1].model == "nvidia-2684");
    CHECK(inventory.gpus[1].functions == std::vector{at("0000:41:00.0"), at("0000:41:00.1")});
    REQUIRE(inventory.nvswitches.size() == 1);
    CHECK(inventory.nvswitches[0].address.str() == "0000:05:00.0");
    REQUIRE(inventory.skipped.size() == 2);
    CHECK(inventory.skipped[0].find("0000:52:00.0") != std::string::npos);
    CHECK(inventory.skipped[1].find("no IOMMU group") != std::string::npos);
}

TEST_CASE("the model table covers the data-centre GPUs") {
    for (auto [id, name] :
         std::vector<std::pair<std::uint16_t, std::string_view>>{{0x20b0, "A100-SXM4-40GB"},
                                                                 {0x20b2, "A100-SXM4-80GB"},
                                                                 {0x20f1, "A100-PCIE-40GB"},
                                                                 {0x2330, "H100-SXM5-80GB"},
                                                                 {0x2331, "H100-PCIE-80GB"},
                                                                 {0x2335, "H200-SXM-141GB"},
                                                                 {0x2901, "B200-SXM-180GB"}}) {
        REQUIRE(findGpuModel(id) != nullptr);
        CHECK(findGpuModel(id)->name == name);
    }
    CHECK(findGpuModel(0x1234) == nullptr);
}

TEST_CASE("GPU model names: NVIDIA's product names and GFD labels are aliases of the canonical name") {
    // nvidia-smi's product names as NVIDIA's drivers print them; GFD's label swaps ' ' for '-'.
    const std::vector<std::pair<std::string, std::string>> smiNames = {
        {"NVIDIA A100-SXM4-40GB", "A100-SXM4-40GB"},
        {"NVIDIA A100-PCIE-40GB", "A100-PCIE-40GB"},
        {"NVIDIA A100-SXM4-80GB", "A100-SXM4-80GB"},
        {"NVIDIA A100 80GB PCIe", "A100-PCIE-80GB"},
        {"NVIDIA H100 80GB HBM3", "H100-SXM5-80GB"},
        {"NVIDIA H100 PCIe", "H100-PCIE-80GB"},
        {"NVIDIA H100 NVL", "H100-NVL-94GB"},
        {"NVIDIA H200", "H200-SXM-141GB"},
        {"NVIDIA H200 NVL", "H200-NVL-141GB"},
        {"NVIDIA B200", "B200-SXM-180GB"},
        {"NVIDIA L40", "L40-48GB"},
        {"NVIDIA L40S", "L40S-48GB"},
    };
    REQUIRE(smiNames.size() == knownGpuModels().size());
    for (const auto& [smi, canonical] : smiNames) {
        CAPTURE(smi);
        std::string label = smi;
        std::replace(label.begin(), label.end(), ' ', '-');
        CHECK(canonicalGpuModel(smi) == canonical);
        CHECK(canonicalGpuModel(label) == canonical);
        std::string upper = label;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return std::toupper(c); });
        CHECK(canonicalGpuModel(upper) == canonical);
        CHECK(canonicalGpuModel(canonical) == canonical);
    }
    CHECK(canonicalGpuModel("h100-sxm5-80gb") == "H100-SXM5-80GB");
    // "b200" is also four hex digits: the product name wins over the generic form.
    CHECK(canonicalGpuModel("NVIDIA-B200") == "B200-SXM-180GB");
}

TEST_CASE("GPU model names: nvidia-<product id> names a GPU the table lacks, and nothing else passes") {
    CHECK(canonicalGpuModel("nvidia-1234") == "nvidia-1234");
    CHECK(canonicalGpuModel("NVIDIA-ABCD") == "nvidia-abcd");
    CHECK(canonicalGpuModel("nvidia-2330") == "H100-SXM5-80GB");  // the inventory names a known id
    for (std::string_view bad : {"", "H100", "NVIDIA H100", "H100-SXM5", "H100-SXM5-80GB ", "nvidia-",
                                 "nvidia-123", "nvidia-12345", "nvidia-12g4", "nvidia--123", "nvidia-0x12",
                                 "NVIDIA  H100 80GB HBM3", "NVIDIA_H100_80GB_HBM3", "Tesla V100"}) {
        CAPTURE(bad);
        CHECK_FALSE(canonicalGpuModel(bad).has_value());
    }
}

TEST_CASE("GPU model names: the inventory's name for any product is accepted as is") {
    PciDevice unknown{
        "pci_0000_18_00_0", "", at("0000:18:00.0"), kNvidiaVendorId, 0x2342, 0x030200, 0, 1, {}};
    unknown.iommuGroupMembers.push_back(unknown.address);
    PciDevice known = unknown;
    known.productId = 0x26b9;
    for (const auto& gpu : {unknown, known}) {
        auto inventory = gpuInventory({gpu});
        REQUIRE(inventory.gpus.size() == 1);
        CHECK(canonicalGpuModel(inventory.gpus[0].model) == inventory.gpus[0].model);
    }
}

TEST_CASE("the 64-bit PCI hole holds every BAR, rounded to a power of two") {
    CHECK(pciHole64Bytes({}) == 1ull << 30);
    CHECK(pciHole64Bytes({128ull << 30}) == 256ull << 30);
    CHECK(pciHole64Bytes(std::vector<std::uint64_t>(8, 128ull << 30)) == 2048ull << 30);
    CHECK(pciHole64Bytes(std::vector<std::uint64_t>(8, 256ull << 30)) == 4096ull << 30);
}

TEST_CASE("GPU choice keeps an allocation on one NUMA node and one PCIe switch") {
    auto gpus = hgx();
    GpuMask none = 0;
    CHECK(*pickGpus(gpus, none, 2, "H100-SXM5-80GB") == std::vector<std::size_t>{0, 1});
    CHECK(*pickGpus(gpus, none, 4, "H100-SXM5-80GB") == std::vector<std::size_t>{0, 1, 2, 3});
    CHECK(*pickGpus(gpus, none, 8, "H100-SXM5-80GB") == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7});
    // Node 0 has 1 free, node 1 has 3: a pair goes to node 1, onto its whole switch.
    GpuMask taken = 0b10111;  // GPUs 0, 1, 2 and 4
    CHECK(*pickGpus(gpus, taken, 2, "H100-SXM5-80GB") == std::vector<std::size_t>{6, 7});
    // The fullest node that holds the request: one GPU goes where only one is free.
    CHECK(*pickGpus(gpus, taken, 1, "H100-SXM5-80GB") == std::vector<std::size_t>{3});
    // Four do not fit on one node: the largest groups first.
    CHECK(*pickGpus(gpus, taken, 4, "H100-SXM5-80GB") == std::vector<std::size_t>{3, 5, 6, 7});
    CHECK_FALSE(pickGpus(gpus, taken, 5, "H100-SXM5-80GB"));
    CHECK_FALSE(pickGpus(gpus, none, 1, "A100-SXM4-80GB"));
}

TEST_CASE("placement: best fit on GPUs then memory, and fit counts") {
    auto gpus = hgx();
    PlacementRequest eight{192, 1800 * kGiB, 8, "H100-SXM5-80GB"};
    PlacementRequest one{24, 200 * kGiB, 1, "H100-SXM5-80GB"};
    PlacementRequest cpuOnly{4, 16 * kGiB, 0, {}};
    std::vector<HostView> hosts{view(gpus), view(gpus, {0}), view(gpus, {0, 1, 2, 3, 4, 5, 6, 7})};
    CHECK(place(eight, hosts)->host == 0);
    auto single = place(one, hosts);
    CHECK(single->host == 1);  // the partly used host, so host 0 stays whole
    CHECK(single->gpus == std::vector<std::size_t>{1});
    CHECK(place(cpuOnly, hosts)->host == 2);  // no free GPUs there to waste
    CHECK(fitCount(eight, hosts[0]) == 1);
    CHECK(fitCount(one, hosts[0]) == 8);
    CHECK(fitCount(one, hosts[1]) == 7);
    CHECK(fitCount(eight, hosts[1]) == 0);
    CHECK(fitCount(cpuOnly, hosts[2]) == 56);
    hosts[0].usable = false;
    CHECK_FALSE(place(eight, hosts));
    // GPUs free but memory short: does not fit.
    CHECK(fitCount(one, view(gpus, {}, 224, 100 * kGiB)) == 0);
}

TEST_CASE("preemption stops the fewest preemptible instances, on the host that needs fewest") {
    auto gpus = hgx();
    PlacementRequest eight{192, 1800 * kGiB, 8, "H100-SXM5-80GB"};
    // Host 0: four 2-GPU preemptibles. Host 1: one 8-GPU preemptible.
    std::vector<HostView> hosts{
        view(gpus, {0, 1, 2, 3, 4, 5, 6, 7}, 224 - 4 * 24, 2048 * kGiB - 4 * 400 * kGiB),
        view(gpus, {0, 1, 2, 3, 4, 5, 6, 7}, 32, 200 * kGiB)};
    std::vector<PreemptionCandidate> candidates{{0, 10, 24, 400 * kGiB, {0, 1}},
                                                {0, 11, 24, 400 * kGiB, {2, 3}},
                                                {0, 12, 24, 400 * kGiB, {4, 5}},
                                                {0, 13, 24, 400 * kGiB, {6, 7}},
                                                {1, 20, 192, 1800 * kGiB, {0, 1, 2, 3, 4, 5, 6, 7}}};
    CHECK_FALSE(place(eight, hosts));
    auto preemption = placeByPreempting(eight, hosts, candidates);
    REQUIRE(preemption);
    CHECK(preemption->placement.host == 1);
    CHECK(preemption->victims == std::vector<std::size_t>{20});
    CHECK(preemption->placement.gpus.size() == 8);
    // A 2-GPU request needs one victim on host 0 (the first largest).
    PlacementRequest two{24, 400 * kGiB, 2, "H100-SXM5-80GB"};
    auto small = placeByPreempting(two, {hosts[0]}, {candidates.begin(), candidates.begin() + 4});
    REQUIRE(small);
    CHECK(small->victims.size() == 1);
    // Nothing preemptible: no way.
    CHECK_FALSE(placeByPreempting(eight, hosts, {}));
}

TEST_CASE("preemption takes the fewest GPUs among equally few victims") {
    auto gpus = hgx();
    // GPUs 0-2: non-preemptible; 3-6: a 4-GPU preemptible; 7: a 1-GPU preemptible.
    std::vector<HostView> hosts{view(gpus, {0, 1, 2, 3, 4, 5, 6, 7})};
    std::vector<PreemptionCandidate> candidates{{0, 1, 24, 200 * kGiB, {3, 4, 5, 6}},
                                                {0, 2, 24, 200 * kGiB, {7}}};
    PlacementRequest one{24, 200 * kGiB, 1, "H100-SXM5-80GB"};
    auto preemption = placeByPreempting(one, hosts, candidates);
    REQUIRE(preemption);
    CHECK(preemption->victims == std::vector<std::size_t>{2});
    CHECK(preemption->placement.gpus == std::vector<std::size_t>{7});
}

#include <doctest/doctest.h>

#include <cstdlib>

#include "libvirt/domain_xml.hpp"
#include "support/golden.hpp"

using namespace gpuhost;
using namespace gpuhost::drivers::libvirt;

namespace {

const auto kInstance = *model::Uuid::parse("6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f");
const auto kProject = *model::Uuid::parse("2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11");

DomainSpec baseSpec() {
    DomainSpec spec;
    spec.instanceId = kInstance;
    spec.projectId = kProject;
    spec.agentId = *model::Uuid::parse("9b1d0c3e-7a64-4f2e-8c51-3d2e1f0a9b87");
    spec.hostname = "web-1";
    spec.vcpus = 2;
    spec.memoryBytes = 4ull << 30;
    spec.rootDisk = "/var/lib/gpuhost/pool/" + kInstance.str() + "-root.qcow2";
    spec.seedIso = "/var/lib/gpuhost/pool/" + kInstance.str() + "-seed.iso";
    spec.consoleLog = "/var/lib/gpuhost/console/" + kInstance.str() + ".log";
    spec.macAddress = macAddressFor(kInstance);
    return spec;
}

struct GoldenCase {
    const char* file;
    DomainSpec spec;
};

std::vector<GoldenCase> cases() {
    auto kvm = baseSpec();
    auto tcg = baseSpec();
    tcg.accelerator = Accelerator::Tcg;
    tcg.tcgCacheMiB = 128;
    tcg.vcpus = 1;
    tcg.memoryBytes = 512ull << 20;
    tcg.kernel = "/var/lib/gpuhost/images/debian12/vmlinuz";
    tcg.initrd = "/var/lib/gpuhost/images/debian12/initrd.img";
    tcg.cmdline = "root=/dev/vda rw console=ttyS0";
    auto bridged = baseSpec();
    bridged.bridge = "br0";
    // Paths come from the operator's config; escape them anyway.
    bridged.rootDisk = "/srv/odd & <dir>/it's \"root\".qcow2";
    // A whole HGX board: 8 GPUs and 4 NVSwitches, NUMA-pinned, 1 GiB hugepages.
    auto hgx = baseSpec();
    hgx.vcpus = 192;
    hgx.memoryBytes = 1800ull << 30;
    for (const char* address :
         {"0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0", "0000:9a:00.0", "0000:ab:00.0",
          "0000:ba:00.0", "0000:db:00.0", "0000:05:00.0", "0000:06:00.0", "0000:85:00.0", "0000:86:00.0"}) {
        hgx.hostDevices.push_back(*model::PciAddress::parse(address));
    }
    hgx.pciHole64Bytes = model::pciHole64Bytes(std::vector<std::uint64_t>(8, 128ull << 30));
    for (unsigned cpu = 0; cpu < 224; ++cpu) {
        hgx.cpuset.push_back(cpu);
    }
    hgx.memoryNodes = {0, 1};
    hgx.hugepageBytes = 1ull << 30;
    // One GPU on NUMA node 1 with its audio function (same IOMMU group).
    auto single = baseSpec();
    single.vcpus = 24;
    single.memoryBytes = 200ull << 30;
    single.hostDevices = {*model::PciAddress::parse("0000:41:00.0"),
                          *model::PciAddress::parse("0000:41:00.1")};
    single.pciHole64Bytes = model::pciHole64Bytes({32ull << 30});
    single.cpuset = {48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 144, 145, 146, 147};
    single.memoryNodes = {1};
    // Two shared filesystems over virtiofs on a TCG guest.
    auto shared = tcg;
    shared.sharedDirectories = {
        {"0b7c2f4e-1d2a-4e5b-9c8d-7e6f5a4b3c2d", "/var/lib/gpuhost/filesystems/fs-a"},
        {"1c8d3a5f-2e3b-4f6c-8d9e-8f7a6b5c4d3e", "/var/lib/gpuhost/filesystems/it's <b>"}};
    return {{"domain/kvm-network.xml", kvm},
            {"domain/tcg-virtiofs.xml", shared},
            {"domain/hgx-8gpu-numa-hugepages.xml", hgx},
            {"domain/gpu-multifunction-numa1.xml", single},
            {"domain/tcg-direct-kernel.xml", tcg},
            {"domain/bridge-escaped.xml", bridged}};
}

}  // namespace

TEST_CASE("domain XML: matches the golden files") {
    for (const auto& c : cases()) {
        CAPTURE(c.file);
        auto xml = buildDomainXml(c.spec);
        CHECK(xml == test::golden(c.file, xml));
    }
}

TEST_CASE("domain XML: every golden file validates against libvirt's schema") {
    REQUIRE_MESSAGE(std::system("command -v virt-xml-validate >/dev/null") == 0,
                    "virt-xml-validate (libvirt-clients) is required: ./test.sh installs it");
    for (const auto& c : cases()) {
        CAPTURE(c.file);
        std::string command =
            "virt-xml-validate '" + test::goldenPath(c.file).string() + "' domain >/dev/null";
        CHECK(std::system(command.c_str()) == 0);
    }
}

TEST_CASE("domain XML: names come from ids, user text is escaped, MACs are stable") {
    CHECK(domainName(kInstance) == "gpuhost-6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f");
    CHECK(macAddressFor(kInstance) == "52:54:00:4d:5e:6f");
    CHECK(xmlEscape("<a href='x'>&\"</a>") == "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;");
    auto spec = baseSpec();
    spec.hostname = "</gpuhost:hostname><evil/>";
    auto xml = buildDomainXml(spec);
    CHECK(xml.find("<evil/>") == std::string::npos);
    CHECK(xml.find("<name>gpuhost-6f1c2a9e") != std::string::npos);
}

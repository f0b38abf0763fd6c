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
    return {{"domain/kvm-network.xml", kvm},
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

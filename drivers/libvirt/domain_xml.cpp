#include "libvirt/domain_xml.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace gpuhost::drivers {

std::string macAddressFor(const model::Uuid& instanceId) {
    const auto& b = instanceId.bytes();
    char text[18];
    std::snprintf(text, sizeof(text), "52:54:00:%02x:%02x:%02x", b[13], b[14], b[15]);
    return text;
}

}  // namespace gpuhost::drivers

namespace gpuhost::drivers::libvirt {

std::string xmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '\'':
                out += "&apos;";
                break;
            case '"':
                out += "&quot;";
                break;
            // As character references these survive XML's attribute-value normalisation
            // (raw ones become spaces) and line-end handling (a raw CR becomes LF).
            case '\t':
                out += "&#9;";
                break;
            case '\n':
                out += "&#10;";
                break;
            case '\r':
                out += "&#13;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

namespace {

// "0-3,8,10-11": libvirt's cpuset syntax.
std::string cpusetText(std::vector<unsigned> cpus) {
    std::sort(cpus.begin(), cpus.end());
    std::string text;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
            ++j;
        }
        text += (text.empty() ? "" : ",") + std::to_string(cpus[i]);
        if (j > i) {
            text += "-" + std::to_string(cpus[j]);
        }
        i = j + 1;
    }
    return text;
}

std::string nodesetText(const std::vector<int>& nodes) {
    std::vector<unsigned> ids(nodes.begin(), nodes.end());
    return cpusetText(std::move(ids));
}

// Memory and vCPU placement. VFIO pins all guest memory for DMA: <locked/> says so, and
// the hard limit becomes QEMU's memlock limit instead of lifting it altogether. mlock
// and VFIO's pinning are both charged to it, hence twice the guest's memory, plus
// QEMU's own overhead, which grows with the guest's page tables.
void writeResources(std::ostream& xml, const DomainSpec& spec) {
    xml << "  <memory unit='KiB'>" << spec.memoryBytes / 1024 << "</memory>\n";
    bool passthrough = !spec.hostDevices.empty();
    if (passthrough) {
        std::uint64_t limit = 2 * spec.memoryBytes + (4ull << 30) + spec.memoryBytes / 64;
        xml << "  <memtune>\n    <hard_limit unit='KiB'>" << limit / 1024 << "</hard_limit>\n  </memtune>\n";
    }
    bool shared = !spec.sharedDirectories.empty();
    if (passthrough || spec.hugepageBytes > 0 || shared) {
        xml << "  <memoryBacking>\n";
        if (spec.hugepageBytes > 0) {
            xml << "    <hugepages>\n      <page size='" << spec.hugepageBytes / 1024
                << "' unit='KiB'/>\n    </hugepages>\n";
        }
        if (shared) {
            // virtiofsd maps guest memory: it must be shared (memfd works without NUMA cells).
            xml << "    <source type='memfd'/>\n    <access mode='shared'/>\n";
        }
        if (passthrough) {
            xml << "    <locked/>\n";
        }
        xml << "  </memoryBacking>\n";
    }
    if (spec.cpuset.empty()) {
        xml << "  <vcpu placement='static'>" << spec.vcpus << "</vcpu>\n";
    } else {
        auto cpus = cpusetText(spec.cpuset);
        xml << "  <vcpu placement='static' cpuset='" << cpus << "'>" << spec.vcpus << "</vcpu>\n"
            << "  <cputune>\n    <emulatorpin cpuset='" << cpus << "'/>\n  </cputune>\n";
    }
    if (!spec.memoryNodes.empty()) {
        xml << "  <numatune>\n    <memory mode='strict' nodeset='" << nodesetText(spec.memoryNodes)
            << "'/>\n  </numatune>\n";
    }
}

void writeOs(std::ostream& xml, const DomainSpec& spec) {
    xml << "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n";
    if (!spec.kernel.empty()) {
        xml << "    <kernel>" << xmlEscape(spec.kernel) << "</kernel>\n";
        if (!spec.initrd.empty()) {
            xml << "    <initrd>" << xmlEscape(spec.initrd) << "</initrd>\n";
        }
        if (!spec.cmdline.empty()) {
            xml << "    <cmdline>" << xmlEscape(spec.cmdline) << "</cmdline>\n";
        }
    } else {
        xml << "    <boot dev='hd'/>\n";
    }
    xml << "  </os>\n";
}

void writeFeatures(std::ostream& xml, const DomainSpec& spec) {
    xml << "  <features>\n    <acpi/>\n    <apic/>\n";
    if (spec.accelerator == Accelerator::Tcg && spec.tcgCacheMiB > 0) {
        xml << "    <tcg>\n      <tb-cache unit='MiB'>" << spec.tcgCacheMiB << "</tb-cache>\n    </tcg>\n";
    }
    xml << "  </features>\n";
    if (spec.accelerator == Accelerator::Kvm && spec.hostDevices.empty()) {
        xml << "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n";
    } else if (spec.accelerator == Accelerator::Kvm) {
        // The guest must address the 64-bit PCI hole: give it the host's physical address width.
        xml << "  <cpu mode='host-passthrough' check='none' migratable='off'>\n"
            << "    <maxphysaddr mode='passthrough'/>\n  </cpu>\n";
    }
}

void writeDisks(std::ostream& xml, const DomainSpec& spec) {
    xml << "    <disk type='file' device='disk'>\n"
        << "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
        << "      <source file='" << xmlEscape(spec.rootDisk) << "'/>\n"
        << "      <target dev='vda' bus='virtio'/>\n"
        << "    </disk>\n";
    xml << "    <controller type='scsi' index='0' model='virtio-scsi'/>\n";
    xml << "    <disk type='file' device='cdrom'>\n"
        << "      <driver name='qemu' type='raw'/>\n"
        << "      <source file='" << xmlEscape(spec.seedIso) << "'/>\n"
        << "      <target dev='sda' bus='scsi'/>\n"
        << "      <readonly/>\n"
        << "    </disk>\n";
}

void writeNetwork(std::ostream& xml, const DomainSpec& spec) {
    if (spec.bridge.empty()) {
        xml << "    <interface type='network'>\n      <source network='" << xmlEscape(spec.network)
            << "'/>\n";
    } else {
        xml << "    <interface type='bridge'>\n      <source bridge='" << xmlEscape(spec.bridge) << "'/>\n";
    }
    xml << "      <mac address='" << xmlEscape(spec.macAddress) << "'/>\n"
        << "      <model type='virtio'/>\n"
        << "    </interface>\n";
}

// Whole GPUs: every function of each IOMMU group, managed (libvirt binds vfio-pci and
// gives the device back at shutdown). The 64-bit hole must hold every large BAR, else
// guests hang in firmware or see only some of the GPUs.
void writePassthrough(std::ostream& xml, const DomainSpec& spec) {
    if (spec.pciHole64Bytes > 0) {
        xml << "    <controller type='pci' index='0' model='pcie-root'>\n"
            << "      <pcihole64 unit='KiB'>" << spec.pciHole64Bytes / 1024 << "</pcihole64>\n"
            << "    </controller>\n";
    }
    char address[96];
    for (const auto& device : spec.hostDevices) {
        std::snprintf(address, sizeof(address),
                      "<address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>",
                      static_cast<unsigned>(device.domain), device.bus, device.slot, device.function);
        xml << "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
            << "      <source>\n        " << address << "\n      </source>\n"
            << "    </hostdev>\n";
    }
}

void writeSharedDirectories(std::ostream& xml, const DomainSpec& spec) {
    for (const auto& directory : spec.sharedDirectories) {
        xml << "    <filesystem type='mount' accessmode='passthrough'>\n"
            << "      <driver type='virtiofs' queue='1024'/>\n"
            << "      <binary path='" << xmlEscape(spec.virtiofsd) << "'/>\n"
            << "      <source dir='" << xmlEscape(directory.source) << "'/>\n"
            << "      <target dir='" << xmlEscape(directory.tag) << "'/>\n"
            << "    </filesystem>\n";
    }
}

void writeConsoleAndAgent(std::ostream& xml, const DomainSpec& spec) {
    // A pty keeps `virsh console` working; <log> copies everything to a file as well.
    xml << "    <serial type='pty'>\n"
        << "      <log file='" << xmlEscape(spec.consoleLog) << "' append='off'/>\n"
        << "      <target type='isa-serial' port='0'/>\n"
        << "    </serial>\n"
        << "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n"
        << "    <channel type='unix'>\n"
        << "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
        << "    </channel>\n"
        << "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n    </rng>\n";
}

}  // namespace

std::string buildDomainXml(const DomainSpec& spec) {
    std::ostringstream xml;
    xml << "<domain type='" << (spec.accelerator == Accelerator::Kvm ? "kvm" : "qemu") << "'>\n"
        << "  <name>" << domainName(spec.instanceId) << "</name>\n"
        << "  <uuid>" << spec.instanceId.str() << "</uuid>\n"
        << "  <metadata>\n"
        << "    <gpuhost:instance xmlns:gpuhost='" << kMetadataNamespace << "'>\n"
        << "      <gpuhost:id>" << spec.instanceId.str() << "</gpuhost:id>\n"
        << "      <gpuhost:project>" << spec.projectId.str() << "</gpuhost:project>\n"
        << "      <gpuhost:agent>" << spec.agentId.str() << "</gpuhost:agent>\n"
        << "      <gpuhost:hostname>" << xmlEscape(spec.hostname) << "</gpuhost:hostname>\n"
        << "    </gpuhost:instance>\n"
        << "  </metadata>\n";
    writeResources(xml, spec);
    writeOs(xml, spec);
    writeFeatures(xml, spec);
    xml << "  <clock offset='utc'/>\n"
        << "  <on_poweroff>destroy</on_poweroff>\n"
        << "  <on_reboot>restart</on_reboot>\n"
        << "  <on_crash>destroy</on_crash>\n"
        << "  <devices>\n";
    writeDisks(xml, spec);
    writeNetwork(xml, spec);
    writePassthrough(xml, spec);
    writeSharedDirectories(xml, spec);
    writeConsoleAndAgent(xml, spec);
    xml << "  </devices>\n</domain>\n";
    return xml.str();
}

}  // namespace gpuhost::drivers::libvirt

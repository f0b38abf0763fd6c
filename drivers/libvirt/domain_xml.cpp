#include "libvirt/domain_xml.hpp"

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
            default:
                out += c;
        }
    }
    return out;
}

namespace {

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
    if (spec.accelerator == Accelerator::Kvm) {
        xml << "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n";
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
        << "  </metadata>\n"
        << "  <memory unit='KiB'>" << spec.memoryBytes / 1024 << "</memory>\n"
        << "  <vcpu placement='static'>" << spec.vcpus << "</vcpu>\n";
    writeOs(xml, spec);
    writeFeatures(xml, spec);
    xml << "  <clock offset='utc'/>\n"
        << "  <on_poweroff>destroy</on_poweroff>\n"
        << "  <on_reboot>restart</on_reboot>\n"
        << "  <on_crash>destroy</on_crash>\n"
        << "  <devices>\n";
    writeDisks(xml, spec);
    writeNetwork(xml, spec);
    writeConsoleAndAgent(xml, spec);
    xml << "  </devices>\n</domain>\n";
    return xml.str();
}

}  // namespace gpuhost::drivers::libvirt

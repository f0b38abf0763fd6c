// LibvirtHypervisor: the host's PCI devices (node-device API), the devices running
// domains hold, and the NUMA topology from the capabilities.
#include <libvirt/libvirt.h>

#include <cstdlib>
#include <memory>

#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/node_xml.hpp"

namespace gpuhost::drivers::libvirt {

using model::Result;

namespace {

struct FreeString {
    void operator()(char* text) const { std::free(text); }
};
using XmlText = std::unique_ptr<char, FreeString>;

}  // namespace

Result<std::vector<model::PciDevice>> LibvirtHypervisor::pciDevices() {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    // flags 0 and filter here: libvirt's test driver rejects capability filters.
    virNodeDevicePtr* devices = nullptr;
    int count = virConnectListAllNodeDevices(conn->get(), &devices, 0);
    if (count < 0) {
        return failed("list node devices");
    }
    std::vector<model::PciDevice> pci;
    for (int i = 0; i < count; ++i) {
        XmlText xml(virNodeDeviceGetXMLDesc(devices[i], 0));
        if (xml) {
            if (auto device = parsePciDeviceXml(xml.get())) {
                pci.push_back(std::move(*device));
            }
        }
        virNodeDeviceFree(devices[i]);
    }
    std::free(devices);
    return pci;
}

Result<std::map<model::PciAddress, std::string>> LibvirtHypervisor::assignedPciDevices() {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    virDomainPtr* domains = nullptr;
    int count = virConnectListAllDomains(conn->get(), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (count < 0) {
        return failed("list running domains");
    }
    std::map<model::PciAddress, std::string> held;
    for (int i = 0; i < count; ++i) {
        XmlText xml(virDomainGetXMLDesc(domains[i], 0));
        if (xml) {
            for (const auto& address : parseHostDevices(xml.get())) {
                held[address] = virDomainGetName(domains[i]);
            }
        }
        virDomainFree(domains[i]);
    }
    std::free(domains);
    return held;
}

Result<HostResources> LibvirtHypervisor::hostResources() {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    virNodeInfo info{};
    if (virNodeGetInfo(conn->get(), &info) != 0) {
        return failed("read host resources");
    }
    HostResources resources{info.cpus, static_cast<std::uint64_t>(info.memory) * 1024, {}};
    if (XmlText capabilities(virConnectGetCapabilities(conn->get())); capabilities) {
        resources.cells = parseNumaCells(capabilities.get());
    }
    return resources;
}

}  // namespace gpuhost::drivers::libvirt

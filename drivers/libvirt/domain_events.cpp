// LibvirtHypervisor: events and guest addresses.
#include <libvirt/libvirt.h>
#include <strings.h>

#include <cstdlib>
#include <memory>

#include "libvirt/libvirt_hypervisor.hpp"

namespace gpuhost::drivers::libvirt {

using model::Result;

namespace {

int onLifecycle(virConnectPtr, virDomainPtr domain, int, int, void* opaque) {
    auto* sink = static_cast<HypervisorEvents*>(opaque);
    if (auto id = instanceIdFromDomainName(virDomainGetName(domain))) {
        sink->domainChanged(*id);
    }
    return 0;
}

int onNodeDevice(virConnectPtr, virNodeDevicePtr, int, int, void* opaque) {
    static_cast<HypervisorEvents*>(opaque)->devicesChanged();
    return 0;
}

void onClose(virConnectPtr, int, void* opaque) {
    static_cast<HypervisorEvents*>(opaque)->connectionLost();
}

// The first IPv4 address of the NIC with `mac`, from one source (agent or leases).
std::optional<std::string> addressFrom(virDomainPtr domain, unsigned source, const std::string& mac) {
    virDomainInterfacePtr* interfaces = nullptr;
    int count = virDomainInterfaceAddresses(domain, &interfaces, source, 0);
    if (count < 0) {
        return std::nullopt;
    }
    std::optional<std::string> found;
    for (int i = 0; i < count; ++i) {
        virDomainInterfacePtr nic = interfaces[i];
        bool ours = nic->hwaddr != nullptr && strcasecmp(nic->hwaddr, mac.c_str()) == 0;
        for (unsigned a = 0; ours && !found && a < nic->naddrs; ++a) {
            if (nic->addrs[a].type == VIR_IP_ADDR_TYPE_IPV4 && nic->addrs[a].addr != nullptr) {
                found = nic->addrs[a].addr;
            }
        }
        virDomainInterfaceFree(nic);
    }
    std::free(interfaces);
    return found;
}

}  // namespace

Result<std::optional<std::string>> LibvirtHypervisor::guestAddress(const std::string& name,
                                                                   const std::string& macAddress) {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    std::unique_ptr<virDomain, decltype(&virDomainFree)> domain(
        virDomainLookupByName(conn->get(), name.c_str()), virDomainFree);
    if (domain == nullptr) {
        return failed("look up domain " + name);
    }
    if (virDomainIsActive(domain.get()) != 1) {
        return std::optional<std::string>{};
    }
    // The agent reports what the guest really has; leases can be stale.
    if (auto address = addressFrom(domain.get(), VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, macAddress)) {
        return address;
    }
    return addressFrom(domain.get(), VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, macAddress);
}

void LibvirtHypervisor::watch(HypervisorEvents& sink) {
    sink_ = &sink;
    connection_.setOnOpen([this](virConnectPtr conn) { registerCallbacks(conn); });
}

void LibvirtHypervisor::registerCallbacks(virConnectPtr conn) {
    // Keepalive notices a dead libvirtd within ~15 s even when no call is in flight;
    // drivers that run in-process (test:///) do not support it, which is fine.
    virConnectSetKeepAlive(conn, 5, 3);
    virConnectDomainEventRegisterAny(conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                     VIR_DOMAIN_EVENT_CALLBACK(onLifecycle), sink_, nullptr);
    virConnectNodeDeviceEventRegisterAny(conn, nullptr, VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
                                         VIR_NODE_DEVICE_EVENT_CALLBACK(onNodeDevice), sink_, nullptr);
    virConnectRegisterCloseCallback(conn, onClose, sink_, nullptr);
}

}  // namespace gpuhost::drivers::libvirt

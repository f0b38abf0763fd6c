// LibvirtHypervisor: events and guest addresses.
#include <libvirt/libvirt.h>
#include <strings.h>

#include <cstdlib>
#include <memory>

#include "libvirt/libvirt_hypervisor.hpp"

namespace gpuhost::drivers::libvirt {

using model::Result;

namespace {

// Each registration holds its own reference to the fan-out; libvirt frees it (through
// `release`) when the callback goes away with its connection.
using FanoutRef = std::shared_ptr<EventFanout>;

EventFanout& fanoutOf(void* opaque) {
    return **static_cast<FanoutRef*>(opaque);
}

void release(void* opaque) {
    delete static_cast<FanoutRef*>(opaque);
}

int onLifecycle(virConnectPtr, virDomainPtr domain, int, int, void* opaque) {
    if (auto id = instanceIdFromDomainName(virDomainGetName(domain))) {
        fanoutOf(opaque).domainChanged(*id);
    }
    return 0;
}

int onNodeDevice(virConnectPtr, virNodeDevicePtr, int, int, void* opaque) {
    fanoutOf(opaque).devicesChanged();
    return 0;
}

void onClose(virConnectPtr, int, void* opaque) {
    fanoutOf(opaque).connectionLost();
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

void EventFanout::add(HypervisorEvents& sink) {
    std::lock_guard lock(mutex_);
    sinks_.push_back(&sink);
}

void EventFanout::clear() {
    std::lock_guard lock(mutex_);
    sinks_.clear();
}

template <class Call>
void EventFanout::each(Call call) {
    // Sinks only post and return (see HypervisorEvents), so holding the lock is brief.
    std::lock_guard lock(mutex_);
    for (auto* sink : sinks_) {
        call(*sink);
    }
}

void EventFanout::domainChanged(const model::Uuid& instanceId) {
    each([&](HypervisorEvents& sink) { sink.domainChanged(instanceId); });
}

void EventFanout::connectionLost() {
    each([](HypervisorEvents& sink) { sink.connectionLost(); });
}

void EventFanout::devicesChanged() {
    each([](HypervisorEvents& sink) { sink.devicesChanged(); });
}

void LibvirtHypervisor::watch(HypervisorEvents& sink) {
    std::lock_guard lock(watchMutex_);
    sinks_->add(sink);
    if (!watching_) {
        // Once: the callbacks feed every sink, on this connection and each one reopened.
        watching_ = true;
        connection_.setOnOpen([this](virConnectPtr conn) { registerCallbacks(conn); });
    }
}

void LibvirtHypervisor::registerCallbacks(virConnectPtr conn) {
    // No client keepalive: when it gives up on a hung libvirtd while several calls wait on
    // the connection, libvirt 9.0's client crashes the process once the daemon answers
    // again (SEGV in virNetClientIOEventLoop; the two-host freeze test shows it). A dead
    // libvirtd closes its socket, which the close callback reports; a hung one is noticed
    // by the host registry (a refresh that does not come back) and only stalls its host.
    auto ref = [this] { return new FanoutRef(sinks_); };
    if (auto* held = ref();
        virConnectDomainEventRegisterAny(conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(onLifecycle), held, release) < 0) {
        release(held);
    }
    if (auto* held = ref(); virConnectNodeDeviceEventRegisterAny(
                                conn, nullptr, VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE,
                                VIR_NODE_DEVICE_EVENT_CALLBACK(onNodeDevice), held, release) < 0) {
        release(held);
    }
    // The in-process test driver has no daemon to lose: libvirt accepts its close callback
    // and drops it without ever calling `release` (a leak per open), so none is given.
    if (connection_.uri().starts_with("test:")) {
        return;
    }
    if (auto* held = ref(); virConnectRegisterCloseCallback(conn, onClose, held, release) < 0) {
        release(held);
    }
}

}  // namespace gpuhost::drivers::libvirt

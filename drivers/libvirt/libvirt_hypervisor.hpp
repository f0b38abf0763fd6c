#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "hypervisor.hpp"
#include "libvirt/connection.hpp"

typedef struct _virDomain* virDomainPtr;
struct _virDomain;

namespace gpuhost::drivers::libvirt {

/// The sinks of one hypervisor's events (see watch()): every event goes to each.
class EventFanout final : public HypervisorEvents {
  public:
    void add(HypervisorEvents& sink);
    void clear();
    void domainChanged(const model::Uuid& instanceId) override;
    void connectionLost() override;
    void devicesChanged() override;

  private:
    template <class Call>
    void each(Call call);
    std::mutex mutex_;
    std::vector<HypervisorEvents*> sinks_;
};

/// Hypervisor over a libvirt connection (qemu:///system, qemu+ssh://…, or the test
/// driver test:///default in integration tests).
class LibvirtHypervisor final : public Hypervisor {
  public:
    /// `connection` is shared with LibvirtStorage for the same host and must outlive this.
    /// `lookup` replaces virDomainLookupByName in tests that inject a libvirt failure.
    using DomainLookup = virDomainPtr (*)(virConnectPtr, const char*);
    explicit LibvirtHypervisor(Connection& connection, DomainLookup lookup = nullptr);
    ~LibvirtHypervisor() override;

    model::Result<void> defineDomain(const DomainSpec& spec) override;
    model::Result<void> startDomain(const std::string& name) override;
    model::Result<void> shutdownDomain(const std::string& name) override;
    model::Result<void> destroyDomain(const std::string& name) override;
    model::Result<void> undefineDomain(const std::string& name) override;
    model::Result<PowerState> powerState(const std::string& name) override;
    model::Result<std::vector<ManagedDomain>> listManagedDomains() override;
    model::Result<bool> ensureNetwork(const std::string& name) override;
    // domain_events.cpp
    model::Result<std::optional<std::string>> guestAddress(const std::string& name,
                                                           const std::string& macAddress) override;
    /// Every call adds a sink; each event goes to every sink.
    void watch(HypervisorEvents& sink) override;
    // node_devices.cpp
    model::Result<HostResources> hostResources() override;
    model::Result<std::vector<model::PciDevice>> pciDevices() override;
    model::Result<std::map<model::PciAddress, std::string>> assignedPciDevices() override;

  private:
    model::Error failed(std::string_view what);
    using DomainHandle = std::unique_ptr<_virDomain, int (*)(virDomainPtr)>;
    model::Result<DomainHandle> lookup(virConnectPtr conn, const std::string& name);
    template <class T, class Action>
    model::Result<T> onDomain(const std::string& name, Action action);
    void registerCallbacks(virConnectPtr conn);

    Connection& connection_;
    DomainLookup lookup_;
    // Shared with the callbacks libvirt holds (which may fire until their connection closes,
    // after this object is gone): the sinks are dropped in the destructor, not the list.
    std::shared_ptr<EventFanout> sinks_ = std::make_shared<EventFanout>();
    std::mutex watchMutex_;
    bool watching_ = false;
    std::mutex networkMutex_;  // serializes ensureNetwork: two starts of one network race
};

/// The ids in gpuhost's <metadata> element.
struct ManagedIds {
    model::Uuid instanceId;
    model::Uuid projectId;
    model::Uuid agentId;
};

/// Reads gpuhost's instance and project ids from a domain's <metadata> element text.
std::optional<ManagedIds> parseManagedMetadata(std::string_view metadataXml);

}  // namespace gpuhost::drivers::libvirt

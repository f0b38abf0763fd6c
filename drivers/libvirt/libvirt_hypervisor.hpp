#pragma once

#include <mutex>
#include <optional>
#include <utility>

#include "hypervisor.hpp"
#include "libvirt/connection.hpp"

namespace gpuhost::drivers::libvirt {

/// Hypervisor over a libvirt connection (qemu:///system, qemu+ssh://…, or the test
/// driver test:///default in integration tests).
class LibvirtHypervisor final : public Hypervisor {
  public:
    /// `connection` is shared with LibvirtStorage for the same host and must outlive this.
    explicit LibvirtHypervisor(Connection& connection) : connection_(connection) {}

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
    void watch(HypervisorEvents& sink) override;
    // node_devices.cpp
    model::Result<HostResources> hostResources() override;
    model::Result<std::vector<model::PciDevice>> pciDevices() override;
    model::Result<std::map<model::PciAddress, std::string>> assignedPciDevices() override;

  private:
    model::Error failed(std::string_view what);
    template <class T, class Action>
    model::Result<T> onDomain(const std::string& name, Action action);
    void registerCallbacks(virConnectPtr conn);

    Connection& connection_;
    HypervisorEvents* sink_ = nullptr;
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

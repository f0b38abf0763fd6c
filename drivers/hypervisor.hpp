#pragma once

#include <optional>
#include <string>
#include <vector>

#include <map>

#include "domain_spec.hpp"
#include "model/error.hpp"
#include "model/gpu.hpp"
#include "model/uuid.hpp"

namespace gpuhost::drivers {

/// A domain's power state as gpuhost cares about it.
enum class PowerState { Running, Paused, ShutOff, Crashed, Other };

std::string_view nameOf(PowerState state);

/// A domain that carries gpuhost's <metadata> (instance, project and agent ids).
struct ManagedDomain {
    std::string name;
    model::Uuid instanceId;
    model::Uuid projectId;
    model::Uuid agentId;
    PowerState state = PowerState::Other;
};

/// One NUMA cell of the host: its CPU ids and memory.
struct NumaCell {
    int id = 0;
    std::vector<unsigned> cpus;
    std::uint64_t memoryBytes = 0;
};

/// What the host has to give, before any reservation.
struct HostResources {
    unsigned cpus = 0;
    std::uint64_t memoryBytes = 0;
    std::vector<NumaCell> cells;  // empty when the host does not report its topology
};

/// Receives hypervisor events. Called on libvirt's event thread: implementations must
/// only hand the event over (post to an executor) and return at once.
class HypervisorEvents {
  public:
    virtual ~HypervisorEvents() = default;
    /// A domain named by domainName(instanceId) started, stopped, crashed, …
    virtual void domainChanged(const model::Uuid& instanceId) = 0;
    /// The connection to the host closed (libvirtd restarted, keepalive lost).
    virtual void connectionLost() = 0;
    /// A node device appeared or went away (hotplug, driver rebind): inventory is stale.
    virtual void devicesChanged() = 0;
};

/// One hypervisor host as the agent sees it. Implementations block (libvirt calls):
/// call them through the blocking pool. Errors are typed: NotFound for a missing
/// domain, Conflict for an operation the domain's state forbids, Unavailable when the
/// host cannot be reached, Internal otherwise.
class Hypervisor {
  public:
    virtual ~Hypervisor() = default;

    /// Defines (or redefines) the persistent domain for `spec`.
    virtual model::Result<void> defineDomain(const DomainSpec& spec) = 0;
    virtual model::Result<void> startDomain(const std::string& name) = 0;
    /// Asks the guest to power off: through its guest agent when that answers, else with
    /// the ACPI power button. Returns once asked (through the agent: once the guest has
    /// begun to shut down, a few seconds), not when the domain is off.
    virtual model::Result<void> shutdownDomain(const std::string& name) = 0;
    /// Pulls the plug. Destroying a domain that is not running is not an error.
    virtual model::Result<void> destroyDomain(const std::string& name) = 0;
    /// Removes the definition. Undefining a domain that does not exist is not an error.
    virtual model::Result<void> undefineDomain(const std::string& name) = 0;
    virtual model::Result<PowerState> powerState(const std::string& name) = 0;
    /// Every domain carrying gpuhost's metadata: what reconcile compares the store with.
    virtual model::Result<std::vector<ManagedDomain>> listManagedDomains() = 0;
    /// The guest's IPv4 address on the NIC with `macAddress`: from the guest agent,
    /// else from the network's DHCP leases; nullopt while neither knows it.
    virtual model::Result<std::optional<std::string>> guestAddress(const std::string& name,
                                                                   const std::string& macAddress) = 0;
    virtual model::Result<HostResources> hostResources() = 0;
    /// Every PCI device of the host, from the node-device API.
    virtual model::Result<std::vector<model::PciDevice>> pciDevices() = 0;
    /// PCI devices held by running domains (any domain, not only gpuhost's), with the
    /// domain's name: a GPU is given to a new domain only once nothing holds it.
    virtual model::Result<std::map<model::PciAddress, std::string>> assignedPciDevices() = 0;
    /// Makes the libvirt network `name` active and autostarted: a fresh libvirt install
    /// defines `default` but leaves it inactive, and then no domain on it can start.
    /// Returns true when this call started it; NotFound when it is not defined.
    virtual model::Result<bool> ensureNetwork(const std::string& name) = 0;
    /// Adds `sink` (which must outlive this object) to the sinks that get events, also
    /// across reconnects: every sink gets every event.
    virtual void watch(HypervisorEvents& sink) = 0;
};

/// The libvirt domain name for an instance: never derived from user input.
std::string domainName(const model::Uuid& instanceId);
/// A locally administered MAC in QEMU's 52:54:00 range, stable for the instance.
std::string macAddressFor(const model::Uuid& instanceId);
/// The instance id back from a domain name made by domainName.
std::optional<model::Uuid> instanceIdFromDomainName(std::string_view name);

}  // namespace gpuhost::drivers

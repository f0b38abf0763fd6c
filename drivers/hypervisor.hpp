#pragma once

#include <string>
#include <vector>

#include "model/error.hpp"
#include "model/uuid.hpp"

namespace gpuhost::drivers {

/// A domain's power state as gpuhost cares about it.
enum class PowerState { Running, Paused, ShutOff, Crashed, Other };

std::string_view nameOf(PowerState state);

/// A domain that carries gpuhost's <metadata> (instance and project ids).
struct ManagedDomain {
    std::string name;
    model::Uuid instanceId;
    model::Uuid projectId;
    PowerState state = PowerState::Other;
};

/// One hypervisor host as the agent sees it. Implementations block (libvirt calls):
/// call them through the blocking pool. Errors are typed: NotFound for a missing
/// domain, Conflict for an operation the domain's state forbids, Unavailable when the
/// host cannot be reached, Internal otherwise.
class Hypervisor {
  public:
    virtual ~Hypervisor() = default;

    /// Defines (or redefines) a persistent domain from XML.
    virtual model::Result<void> defineDomain(const std::string& xml) = 0;
    virtual model::Result<void> startDomain(const std::string& name) = 0;
    /// Asks the guest to power off (ACPI); returns at once.
    virtual model::Result<void> shutdownDomain(const std::string& name) = 0;
    /// Pulls the plug. Destroying a domain that is not running is not an error.
    virtual model::Result<void> destroyDomain(const std::string& name) = 0;
    /// Removes the definition. Undefining a domain that does not exist is not an error.
    virtual model::Result<void> undefineDomain(const std::string& name) = 0;
    virtual model::Result<PowerState> powerState(const std::string& name) = 0;
    /// Every domain carrying gpuhost's metadata: what reconcile compares the store with.
    virtual model::Result<std::vector<ManagedDomain>> listManagedDomains() = 0;
};

}  // namespace gpuhost::drivers

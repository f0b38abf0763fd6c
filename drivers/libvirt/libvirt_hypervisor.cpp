#include "libvirt/libvirt_hypervisor.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <memory>

#include "libvirt/domain_xml.hpp"

namespace gpuhost::drivers {

std::string_view nameOf(PowerState state) {
    switch (state) {
        case PowerState::Running:
            return "running";
        case PowerState::Paused:
            return "paused";
        case PowerState::ShutOff:
            return "shutoff";
        case PowerState::Crashed:
            return "crashed";
        case PowerState::Other:
            return "other";
    }
    return "other";
}

namespace {
constexpr std::string_view kDomainPrefix = "gpuhost-";
}

std::string domainName(const model::Uuid& instanceId) {
    return std::string(kDomainPrefix) + instanceId.str();
}

std::optional<model::Uuid> instanceIdFromDomainName(std::string_view name) {
    if (!name.starts_with(kDomainPrefix)) {
        return std::nullopt;
    }
    return model::Uuid::parse(name.substr(kDomainPrefix.size()));
}

}  // namespace gpuhost::drivers

namespace gpuhost::drivers::libvirt {

using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

constexpr unsigned kShutdownFlags = VIR_DOMAIN_SHUTDOWN_GUEST_AGENT | VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN;

PowerState powerStateFrom(int state, int reason) {
    // A domain with on_crash=destroy is shut off with reason "crashed": still a crash.
    if (state == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_CRASHED) {
        return PowerState::Crashed;
    }
    switch (state) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
            return PowerState::Running;
        case VIR_DOMAIN_PAUSED:
        case VIR_DOMAIN_PMSUSPENDED:
            return PowerState::Paused;
        case VIR_DOMAIN_SHUTOFF:
        case VIR_DOMAIN_SHUTDOWN:
            return PowerState::ShutOff;
        case VIR_DOMAIN_CRASHED:
            return PowerState::Crashed;
        default:
            return PowerState::Other;
    }
}

// The text of the first <tag> or <prefix:tag> element: libvirt returns the metadata
// element without the prefix it was defined with.
std::string_view elementText(std::string_view xml, std::string_view tag) {
    std::size_t start = std::string_view::npos;
    for (std::string open : {"<" + std::string(tag) + ">", ":" + std::string(tag) + ">"}) {
        auto at = xml.find(open);
        if (at != std::string_view::npos && (start == std::string_view::npos || at + open.size() < start)) {
            start = at + open.size();
        }
    }
    if (start == std::string_view::npos) {
        return {};
    }
    auto end = xml.find('<', start);
    return end == std::string_view::npos ? std::string_view{} : xml.substr(start, end - start);
}

}  // namespace

std::optional<ManagedIds> parseManagedMetadata(std::string_view metadataXml) {
    auto id = model::Uuid::parse(elementText(metadataXml, "id"));
    auto project = model::Uuid::parse(elementText(metadataXml, "project"));
    auto agent = model::Uuid::parse(elementText(metadataXml, "agent"));
    if (!id || !project || !agent) {
        return std::nullopt;
    }
    return ManagedIds{*id, *project, *agent};
}

LibvirtHypervisor::LibvirtHypervisor(Connection& connection, DomainLookup lookup)
    : connection_(connection), lookup_(lookup != nullptr ? lookup : virDomainLookupByName) {}

LibvirtHypervisor::~LibvirtHypervisor() {
    // Callbacks registered on the connection may still fire; they find no sink.
    sinks_->clear();
    if (watching_) {
        connection_.setOnOpen(nullptr);
    }
}

Error LibvirtHypervisor::failed(std::string_view what) {
    return connection_.failed(what);
}

Result<LibvirtHypervisor::DomainHandle> LibvirtHypervisor::lookup(virConnectPtr conn,
                                                                  const std::string& name) {
    virDomainPtr domain = lookup_(conn, name.c_str());
    if (domain == nullptr) {
        // Classified like every other call: a system error on a live connection is a real
        // failure, not "unreachable, retry later" (which would defer the job forever).
        return failed("look up domain " + name);
    }
    return DomainHandle(domain, virDomainFree);
}

template <class T, class Action>
Result<T> LibvirtHypervisor::onDomain(const std::string& name, Action action) {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    auto domain = lookup(conn->get(), name);
    if (!domain) {
        return domain.error();
    }
    return action(domain->get());
}

Result<void> LibvirtHypervisor::defineDomain(const DomainSpec& spec) {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    std::string xml = buildDomainXml(spec);
    virDomainPtr domain = virDomainDefineXML(conn->get(), xml.c_str());
    if (domain == nullptr) {
        return failed("define domain");
    }
    virDomainFree(domain);
    return {};
}

Result<void> LibvirtHypervisor::startDomain(const std::string& name) {
    return onDomain<void>(name, [&](virDomainPtr domain) -> Result<void> {
        return virDomainCreate(domain) == 0 ? Result<void>{} : failed("start domain " + name);
    });
}

Result<void> LibvirtHypervisor::shutdownDomain(const std::string& name) {
    return onDomain<void>(name, [&](virDomainPtr domain) -> Result<void> {
        // The guest agent first (guest-shutdown: works whatever the guest does with ACPI),
        // the ACPI power button when the agent fails or is not connected yet: libvirt's
        // QEMU driver tries them in that order when both flags are given. The driver's
        // default where it rejects the flags (the test driver rejects every flag).
        return virDomainShutdownFlags(domain, kShutdownFlags) == 0 || virDomainShutdown(domain) == 0
                   ? Result<void>{}
                   : failed("shut down domain " + name);
    });
}

Result<void> LibvirtHypervisor::destroyDomain(const std::string& name) {
    return onDomain<void>(name, [&](virDomainPtr domain) -> Result<void> {
        if (virDomainIsActive(domain) != 1 || virDomainDestroy(domain) == 0) {
            return {};
        }
        return failed("destroy domain " + name);
    });
}

Result<void> LibvirtHypervisor::undefineDomain(const std::string& name) {
    auto undefined = onDomain<void>(name, [&](virDomainPtr domain) -> Result<void> {
        // Remove UEFI variables too where the driver knows about them; drivers without
        // NVRAM support (the test driver) reject the flag, so fall back to a plain undefine.
        if (virDomainUndefineFlags(domain, VIR_DOMAIN_UNDEFINE_NVRAM) == 0 ||
            virDomainUndefine(domain) == 0) {
            return {};
        }
        return failed("undefine domain " + name);
    });
    if (!undefined && undefined.error().code == ErrorCode::NotFound) {
        return {};  // already gone: what undefine wants
    }
    return undefined;
}

Result<PowerState> LibvirtHypervisor::powerState(const std::string& name) {
    return onDomain<PowerState>(name, [&](virDomainPtr domain) -> Result<PowerState> {
        int state = 0;
        int reason = 0;
        if (virDomainGetState(domain, &state, &reason, 0) != 0) {
            return failed("read the state of domain " + name);
        }
        return powerStateFrom(state, reason);
    });
}

Result<std::vector<ManagedDomain>> LibvirtHypervisor::listManagedDomains() {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    virDomainPtr* domains = nullptr;
    int count = virConnectListAllDomains(conn->get(), &domains, 0);
    if (count < 0) {
        return failed("list domains");
    }
    std::vector<ManagedDomain> managed;
    for (int i = 0; i < count; ++i) {
        DomainHandle domain(domains[i], virDomainFree);
        char* metadata =
            virDomainGetMetadata(domain.get(), VIR_DOMAIN_METADATA_ELEMENT, kMetadataNamespace, 0);
        if (metadata == nullptr) {
            continue;  // not one of ours
        }
        auto ids = parseManagedMetadata(metadata);
        std::free(metadata);
        int state = 0;
        int reason = 0;
        if (!ids || virDomainGetState(domain.get(), &state, &reason, 0) != 0) {
            continue;
        }
        managed.push_back({virDomainGetName(domain.get()), ids->instanceId, ids->projectId, ids->agentId,
                           powerStateFrom(state, reason)});
    }
    std::free(domains);
    return managed;
}

Result<bool> LibvirtHypervisor::ensureNetwork(const std::string& name) {
    // Two refreshes that both find the network inactive would both start it, and the
    // second would fail with "already active" (as ensurePool learned).
    std::lock_guard serialized(networkMutex_);
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    using NetworkHandle = std::unique_ptr<virNetwork, decltype(&virNetworkFree)>;
    NetworkHandle network(virNetworkLookupByName(conn->get(), name.c_str()), virNetworkFree);
    if (network == nullptr) {
        return failed("look up network " + name);
    }
    if (virNetworkIsActive(network.get()) == 1) {
        return false;
    }
    if (virNetworkCreate(network.get()) != 0) {
        // Someone else (an operator, another agent) may have started it meanwhile.
        if (virNetworkIsActive(network.get()) == 1) {
            return false;
        }
        return failed("start network " + name);
    }
    // Started by us: also after the host's next boot, before any agent runs.
    if (virNetworkSetAutostart(network.get(), 1) != 0) {
        return failed("set autostart on network " + name);
    }
    return true;
}

}  // namespace gpuhost::drivers::libvirt

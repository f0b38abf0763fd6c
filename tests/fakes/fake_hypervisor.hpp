#pragma once

#include <map>
#include <mutex>
#include <set>

#include "hypervisor.hpp"
#include "seed_writer.hpp"
#include "storage.hpp"

namespace gpuhost::test {

/// An in-memory host for service and handler tests: domains that start and stop at
/// once, a fixed amount of CPU and memory, volumes as names, seeds kept as their files
/// (no xorriso). `unavailable` makes every call fail as an unreachable libvirt would.
class FakeHypervisor final : public drivers::Hypervisor, public drivers::Storage, public drivers::SeedWriter {
  public:
    explicit FakeHypervisor(drivers::HostResources host = {8, 32ull << 30, {}},
                            std::vector<model::PciDevice> devices = {})
        : host_(std::move(host)), devices_(std::move(devices)) {}

    model::Result<void> defineDomain(const drivers::DomainSpec& spec) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        auto& domain = domains_[drivers::domainName(spec.instanceId)];
        domain.spec = spec;
        return {};
    }
    model::Result<void> startDomain(const std::string& name) override {
        return onDomain(name, [](auto& domain) { domain.state = drivers::PowerState::Running; });
    }
    model::Result<void> shutdownDomain(const std::string& name) override {
        return onDomain(name, [this](auto& domain) {
            if (!ignoreShutdown_) {
                domain.state = drivers::PowerState::ShutOff;
            }
        });
    }
    model::Result<void> destroyDomain(const std::string& name) override {
        return onDomain(name, [](auto& domain) { domain.state = drivers::PowerState::ShutOff; });
    }
    model::Result<void> undefineDomain(const std::string& name) override {
        std::lock_guard lock(mutex_);
        domains_.erase(name);
        return {};
    }
    model::Result<drivers::PowerState> powerState(const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        auto it = domains_.find(name);
        if (it == domains_.end()) {
            return model::Error::notFound("domain");
        }
        return it->second.state;
    }
    model::Result<std::vector<drivers::ManagedDomain>> listManagedDomains() override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        std::vector<drivers::ManagedDomain> all;
        for (const auto& [name, domain] : domains_) {
            all.push_back(
                {name, domain.spec.instanceId, domain.spec.projectId, domain.spec.agentId, domain.state});
        }
        return all;
    }
    model::Result<std::optional<std::string>> guestAddress(const std::string& name,
                                                           const std::string&) override {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(name);
        if (it == domains_.end() || it->second.state != drivers::PowerState::Running) {
            return std::optional<std::string>{};
        }
        return std::optional<std::string>("192.0.2.10");
    }
    model::Result<drivers::HostResources> hostResources() override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        return host_;
    }
    model::Result<std::vector<model::PciDevice>> pciDevices() override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        return devices_;
    }
    model::Result<std::map<model::PciAddress, std::string>> assignedPciDevices() override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        std::map<model::PciAddress, std::string> held;
        for (const auto& [name, domain] : domains_) {
            for (const auto& device : domain.spec.hostDevices) {
                if (domain.state == drivers::PowerState::Running) {
                    held[device] = name;
                }
            }
        }
        return held;
    }
    void watch(drivers::HypervisorEvents& sink) override {
        std::lock_guard lock(mutex_);
        sinks_.push_back(&sink);
    }
    /// Networks are defined with defineNetwork; unknown names are NotFound, as in libvirt.
    model::Result<bool> ensureNetwork(const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        ensuredNetworks_.push_back(name);
        auto it = networks_.find(name);
        if (it == networks_.end()) {
            return model::Error::notFound("network " + name);
        }
        if (it->second.active) {
            return false;
        }
        if (!it->second.startError.empty()) {
            return model::Error::internal(it->second.startError);
        }
        it->second.active = true;
        it->second.autostart = true;
        return true;
    }

    // Storage
    model::Result<void> ensurePool() override { return {}; }
    model::Result<drivers::Volume> volume(const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        auto it = volumes_.find(name);
        if (it == volumes_.end()) {
            return model::Error::notFound("volume");
        }
        return drivers::Volume{name, "/fake/" + name, 0, it->second};
    }
    model::Result<std::vector<drivers::Volume>> listVolumes() override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        std::vector<drivers::Volume> all;
        for (const auto& [name, backing] : volumes_) {
            all.push_back({name, "/fake/" + name, 0, backing});
        }
        return all;
    }
    model::Result<drivers::Volume> createOverlay(const std::string& name, const std::string& backing,
                                                 std::string_view, std::uint64_t) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        volumes_[name] = backing;
        ++overlaysCreated_;
        return drivers::Volume{name, "/fake/" + name, 0, backing};
    }
    model::Result<drivers::Volume> importFile(const std::string& name,
                                              const std::filesystem::path&) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        volumes_[name] = "";
        ++imports_;
        return drivers::Volume{name, "/fake/" + name, 0, ""};
    }
    model::Result<void> deleteVolume(const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        volumes_.erase(name);
        return {};
    }

    // SeedWriter
    model::Result<std::string> writeSeed(const drivers::SeedFiles& files, const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        volumes_[name] = "";
        seeds_[name] = files;
        return "/fake/" + name;
    }
    std::optional<drivers::SeedFiles> seed(const std::string& volumeName) {
        std::lock_guard lock(mutex_);
        auto it = seeds_.find(volumeName);
        return it == seeds_.end() ? std::nullopt : std::optional(it->second);
    }
    /// A volume as an earlier agent left it (a base image, an overlay on `backing`).
    void addVolume(const std::string& name, const std::string& backing = "") {
        std::lock_guard lock(mutex_);
        volumes_[name] = backing;
    }
    bool hasVolume(const std::string& name) {
        std::lock_guard lock(mutex_);
        return volumes_.contains(name);
    }
    unsigned imports() {
        std::lock_guard lock(mutex_);
        return imports_;
    }

    model::Result<std::string> ensureSharedDirectory(const std::string& name, std::uint64_t) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        shared_.insert(name);
        return "/fake/shared/" + name;
    }
    model::Result<void> removeSharedDirectory(const std::string& name) override {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        shared_.erase(name);
        return {};
    }
    std::size_t sharedCount() {
        std::lock_guard lock(mutex_);
        return shared_.size();
    }

    // Test controls
    /// Guests ignore ACPI shutdown (the agent destroys them after its timeout).
    void ignoreShutdown(bool ignore) {
        std::lock_guard lock(mutex_);
        ignoreShutdown_ = ignore;
    }
    std::optional<drivers::DomainSpec> spec(const model::Uuid& instance) {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(drivers::domainName(instance));
        return it == domains_.end() ? std::nullopt : std::optional(it->second.spec);
    }
    void setUnavailable(bool down) {
        std::lock_guard lock(mutex_);
        unavailable_ = down;
    }
    /// What a crashed run left behind: a domain and, when named, its volume, there at once (not
    /// through libvirt calls, between which an agent pass could run; and while it is down).
    void leaveBehind(const drivers::DomainSpec& spec, const std::string& volume = {}) {
        std::lock_guard lock(mutex_);
        domains_[drivers::domainName(spec.instanceId)].spec = spec;
        if (!volume.empty()) {
            volumes_[volume] = "";
        }
    }
    /// The guest powers itself off (or crashes) behind the agent's back; libvirt tells.
    void guestChanges(const model::Uuid& instance, drivers::PowerState state) {
        {
            std::lock_guard lock(mutex_);
            domains_[drivers::domainName(instance)].state = state;
        }
        std::vector<drivers::HypervisorEvents*> sinks;
        {
            std::lock_guard lock(mutex_);
            sinks = sinks_;
        }
        for (auto* sink : sinks) {  // every sink, as libvirt's fan-out does
            sink->domainChanged(instance);
        }
    }
    /// A network as libvirt would hold it; a non-empty `startError` makes starting it fail.
    struct Network {
        bool active = false;
        bool autostart = false;
        std::string startError;
    };
    void defineNetwork(const std::string& name, Network network) {
        std::lock_guard lock(mutex_);
        networks_[name] = std::move(network);
    }
    std::optional<Network> network(const std::string& name) {
        std::lock_guard lock(mutex_);
        auto it = networks_.find(name);
        return it == networks_.end() ? std::nullopt : std::optional(it->second);
    }
    /// Every name ensureNetwork was asked for, in order.
    std::vector<std::string> ensuredNetworks() {
        std::lock_guard lock(mutex_);
        return ensuredNetworks_;
    }
    std::size_t domainCount() {
        std::lock_guard lock(mutex_);
        return domains_.size();
    }
    unsigned overlaysCreated() {
        std::lock_guard lock(mutex_);
        return overlaysCreated_;
    }
    std::size_t volumeCount() {
        std::lock_guard lock(mutex_);
        return volumes_.size();
    }

  private:
    struct Domain {
        drivers::DomainSpec spec;
        drivers::PowerState state = drivers::PowerState::ShutOff;
    };
    std::optional<model::Error> failure() const {
        return unavailable_ ? std::optional(model::Error{model::ErrorCode::Unavailable, "libvirt down", {}})
                            : std::nullopt;
    }
    template <class F>
    model::Result<void> onDomain(const std::string& name, F change) {
        std::lock_guard lock(mutex_);
        if (auto down = failure()) {
            return *down;
        }
        auto it = domains_.find(name);
        if (it == domains_.end()) {
            return model::Error::notFound("domain");
        }
        change(it->second);
        return {};
    }

    std::mutex mutex_;
    drivers::HostResources host_;
    std::map<std::string, Domain> domains_;
    std::map<std::string, std::string> volumes_;  // name → backing path
    std::map<std::string, drivers::SeedFiles> seeds_;
    unsigned imports_ = 0;
    std::set<std::string> shared_;
    std::map<std::string, Network> networks_{{"default", {true, true, {}}}};  // as on a set-up host
    std::vector<std::string> ensuredNetworks_;
    std::vector<model::PciDevice> devices_;
    bool unavailable_ = false;
    bool ignoreShutdown_ = false;
    unsigned overlaysCreated_ = 0;
    std::vector<drivers::HypervisorEvents*> sinks_;
};

}  // namespace gpuhost::test

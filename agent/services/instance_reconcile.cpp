// InstanceService: recording states, libvirt events, guest addresses and the
// reconciler that makes the store and libvirt agree (at start, after a reconnect, and
// periodically as a safety net behind events).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <set>
#include <utility>

#include "log.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using drivers::PowerState;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

bool isTransitional(InstanceState state) {
    using enum InstanceState;
    return state == Creating || state == Starting || state == Stopping || state == Deleting;
}

// Whether what the domain listing shows for a steady instance is something observe()
// would act on: only those get a probe, so a resync of a consistent host costs one
// listing, not one libvirt call per instance.
bool listedDisagrees(const Instance& instance, std::optional<PowerState> listed) {
    using enum InstanceState;
    auto state = instance.state;
    if (state == OutOfStock) {
        return false;
    }
    if (!listed) {
        return state != Failed;  // vanished
    }
    switch (*listed) {
        case PowerState::Running:
            return state != Running || !instance.ip;
        case PowerState::ShutOff:
            return state == Running;
        case PowerState::Crashed:
            return state != Failed;
        default:
            return false;
    }
}

// A guest gets an address some seconds after boot (the agent starts, DHCP answers):
// ask every 2 s for five minutes, then leave it to the resync loop.
constexpr unsigned kAddressTries = 150;
constexpr auto kAddressInterval = std::chrono::seconds(2);

}  // namespace

void InstanceService::start() {
    watchHosts();
    asio::co_spawn(resyncStrand_, resyncLoop(), asio::detached);
}

void InstanceService::stop() {
    stopping_.store(true);
    asio::post(resyncStrand_, [this] { resyncTimer_.cancel(); });
}

bool InstanceService::stillWanted(const model::Uuid& id, InstanceState state) const {
    std::shared_lock lock(mutex_);
    auto it = byId_.find(id);
    return it != byId_.end() && it->second.instance.state == state && !it->second.admitting;
}

asio::awaitable<bool> InstanceService::record(const model::Uuid& id, InstanceState from, InstanceState to,
                                              std::optional<std::string> ip, std::string reason,
                                              std::optional<std::vector<model::PciAddress>> gpus) {
    {
        // Only if nothing changed it meanwhile (a DELETE admitted while a create ran wins).
        std::unique_lock lock(mutex_);
        auto it = byId_.find(id);
        if (it == byId_.end() || it->second.admitting || it->second.instance.state != from) {
            co_return false;
        }
        it->second.admitting = true;
        it->second.pending = to;
        it->second.pendingGpus = gpus;
    }
    auto write = [this, id, to, ip, reason, gpus] {
        return store_.updateInstances({InstanceUpdate{id, to, ip, reason, gpus}});
    };
    auto stored = co_await storePool_.run(std::move(write));
    std::unique_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end()) {
        co_return false;
    }
    it->second.admitting = false;
    it->second.pendingGpus.reset();
    if (!stored) {
        log::error("cannot record instance state",
                   {{"instance", id.str()}, {"error", stored.error().message}});
        co_return false;
    }
    it->second.instance.state = to;
    it->second.instance.ip = ip;
    it->second.instance.reason = reason;
    if (gpus) {
        it->second.instance.gpus = *gpus;
    }
    if (to == InstanceState::Running && from != InstanceState::Running) {
        it->second.addressTries = 0;  // a fresh boot gets the full time to report an address
    }
    if (from != to) {
        log::info(
            "instance state",
            {{"instance", id.str()}, {"from", std::string(nameOf(from))}, {"to", std::string(nameOf(to))}});
    }
    co_return true;
}

// Adopts what libvirt says for an instance in a steady state: a guest that powered
// itself off is stopped, a crashed one is in error, a vanished domain is an error.
asio::awaitable<void> InstanceService::observe(model::Uuid id) {
    auto instance = snapshot(id);
    if (!instance || isTransitional(instance->state) || instance->state == InstanceState::OutOfStock) {
        co_return;
    }
    auto h = hostIndex(instance->host);
    if (h == kNoHost) {
        co_return;
    }
    auto probe = [id, hypervisor = hosts_[h].binding.hypervisor] {
        return hypervisor->powerState(drivers::domainName(id));
    };
    auto power = co_await hostPool_.run(std::move(probe));
    auto from = instance->state;
    if (!power && power.error().code == ErrorCode::NotFound) {
        if (from != InstanceState::Failed) {
            co_await record(id, from, InstanceState::Failed, std::nullopt,
                            "the domain vanished from libvirt");
        }
        co_return;
    }
    if (!power) {
        co_return;  // host unreachable: keep the last known state
    }
    const auto* type = catalog_.findInstanceType(instance->type);
    bool withoutItsGpus = type != nullptr && type->gpuCount > 0 && instance->gpus.size() != type->gpuCount;
    if (*power == PowerState::Running && withoutItsGpus) {
        // Its GPUs were given away (it was preempted, or stopped, and its stop failed or
        // something restarted it): it must not keep devices another instance owns now.
        log::warn("destroying a domain that runs without its GPUs", {{"instance", id.str()}});
        auto destroy = [id, hypervisor = hosts_[h].binding.hypervisor] {
            return hypervisor->destroyDomain(drivers::domainName(id));
        };
        if (auto destroyed = co_await hostPool_.run(std::move(destroy));
            destroyed && from != InstanceState::Stopped) {
            co_await record(id, from, InstanceState::Stopped, std::nullopt,
                            "stopped: it was running without its GPUs, which belong to another instance now",
                            std::vector<model::PciAddress>{});
        }
    } else if (*power == PowerState::Running && from != InstanceState::Running) {
        if (co_await record(id, from, InstanceState::Running, std::nullopt, "")) {
            schedule(id, Job::Address);
        }
    } else if (*power == PowerState::ShutOff && from == InstanceState::Running) {
        co_await record(id, from, InstanceState::Stopped, std::nullopt, "the guest powered off",
                        std::vector<model::PciAddress>{});
    } else if (*power == PowerState::Crashed && from != InstanceState::Failed) {
        co_await record(id, from, InstanceState::Failed, std::nullopt, "the guest crashed");
    } else if (*power == PowerState::Running && !instance->ip) {
        schedule(id, Job::Address);
    }
}

asio::awaitable<void> InstanceService::refreshAddress(model::Uuid id) {
    auto instance = snapshot(id);
    if (!instance || instance->state != InstanceState::Running || instance->ip) {
        co_return;
    }
    auto h = hostIndex(instance->host);
    if (h == kNoHost) {
        co_return;
    }
    auto ask = [id, hypervisor = hosts_[h].binding.hypervisor] {
        return hypervisor->guestAddress(drivers::domainName(id), drivers::macAddressFor(id));
    };
    auto address = co_await hostPool_.run(std::move(ask));
    if (address && *address) {
        co_await record(id, InstanceState::Running, InstanceState::Running, *address, instance->reason);
        co_return;
    }
    unsigned tries = 0;
    {
        std::unique_lock lock(mutex_);
        auto it = byId_.find(id);
        tries = it == byId_.end() ? kAddressTries : ++it->second.addressTries;
    }
    if (tries < kAddressTries && !stopping_.load()) {
        // Ask again later, off the queue so stop and delete are not held up meanwhile.
        auto timer = std::make_shared<asio::steady_timer>(executor_, kAddressInterval);
        timer->async_wait([this, id, timer](const boost::system::error_code& ec) {
            if (!ec) {
                schedule(id, Job::Address);
            }
        });
    }
}

asio::awaitable<bool> InstanceService::reconcile() {
    bool all = true;
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        all = co_await reconcileHost(h) && all;
    }
    // Instances on no host (out-of-stock ones being deleted) or on a host that left the
    // config belong to no host's pass: finish their interrupted work here. (Found by the
    // GPU crash test: an out-of-stock instance killed mid-delete stayed `deleting`.)
    std::vector<model::Uuid> homeless;
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, entry] : byId_) {
            if (!entry.admitting && isTransitional(entry.instance.state) &&
                hostIndex(entry.instance.host) == kNoHost) {
                homeless.push_back(id);
            }
        }
    }
    for (const auto& id : homeless) {
        schedule(id, Job::Converge);
    }
    co_return all;
}

// One host: refresh what it has, finish interrupted jobs of its instances, adopt what
// its domains show, and remove this agent's orphans there. Hosts are independent: one
// that cannot be reached leaves the others alone.
asio::awaitable<bool> InstanceService::reconcileHost(std::size_t h) {
    const auto& binding = hosts_[h].binding;
    auto inventory = [this, h, &binding]() -> Result<std::vector<drivers::ManagedDomain>> {
        if (auto known = refreshHostBlocking(h); !known) {
            return known.error();
        }
        if (auto pool = binding.storage->ensurePool(); !pool) {
            return pool.error();
        }
        return binding.hypervisor->listManagedDomains();
    };
    auto seen = co_await hostPool_.run(std::move(inventory));
    if (!seen) {
        log::warn("reconcile: host unavailable", {{"host", binding.name}, {"error", seen.error().message}});
        std::unique_lock lock(mutex_);
        hosts_[h].reachable = false;
        hosts_[h].problem = seen.error().message;
        co_return false;
    }
    std::map<model::Uuid, PowerState> listed;
    for (const auto& domain : *seen) {
        if (domain.agentId == agentId_) {
            listed[domain.instanceId] = domain.state;
        }
    }
    std::vector<std::pair<model::Uuid, Job>> jobs;
    {
        std::shared_lock lock(mutex_);  // only reads: readers of the API need not wait
        for (const auto& [id, entry] : byId_) {
            if (entry.admitting || entry.instance.host != binding.name) {
                continue;
            }
            auto power = listed.find(id);
            if (isTransitional(entry.instance.state)) {
                jobs.emplace_back(id, Job::Converge);
            } else if (listedDisagrees(entry.instance,
                                       power == listed.end() ? std::nullopt : std::optional(power->second))) {
                jobs.emplace_back(id, Job::Observe);
            }
        }
    }
    for (const auto& [id, job] : jobs) {
        schedule(id, job);
    }
    co_await removeOrphans(h, *seen);
    co_return true;
}

// Domains and volumes of this agent whose instance is not in the store: left by a
// crash between libvirt's work and the store's, or by a store restored from backup.
asio::awaitable<void> InstanceService::removeOrphans(std::size_t h,
                                                     const std::vector<drivers::ManagedDomain>& domains) {
    std::vector<std::string> orphanDomains;
    std::set<model::Uuid> known;  // instances that live on this host (or are not placed yet)
    const auto& binding = hosts_[h].binding;
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, entry] : byId_) {
            if (entry.instance.host == binding.name || entry.instance.host.empty()) {
                known.insert(id);
            }
        }
    }
    for (const auto& domain : domains) {
        if (domain.agentId == agentId_ && !known.contains(domain.instanceId)) {
            orphanDomains.push_back(domain.name);
        }
    }
    auto sweep = [this, orphanDomains, known, &binding]() -> Result<void> {
        auto& hypervisor = *binding.hypervisor;
        auto& storage = *binding.storage;
        for (const auto& name : orphanDomains) {
            log::warn("removing orphan domain", {{"domain", name}});
            // NotFound: it went between the listing and now, which is what we want.
            if (auto destroyed = hypervisor.destroyDomain(name);
                !destroyed && destroyed.error().code != ErrorCode::NotFound) {
                return destroyed;
            }
            if (auto undefined = hypervisor.undefineDomain(name); !undefined) {
                return undefined;
            }
        }
        auto volumes = storage.listVolumes();
        if (!volumes) {
            return volumes.error();
        }
        for (const auto& volume : *volumes) {
            auto owner = instanceIdFromVolumeName(volume.name);
            // Re-check: an instance created since the snapshot is not an orphan.
            auto now = owner ? snapshot(*owner) : std::nullopt;
            bool here = now && (now->host == binding.name || now->host.empty());
            if (owner && !known.contains(*owner) && !here) {
                log::warn("removing orphan volume", {{"volume", volume.name}, {"host", binding.name}});
                if (auto removed = storage.deleteVolume(volume.name); !removed) {
                    return removed;
                }
            }
        }
        return {};
    };
    if (auto swept = co_await hostPool_.run(std::move(sweep)); !swept) {
        log::warn("orphan sweep incomplete", {{"error", swept.error().message}});
    }
}

asio::awaitable<void> InstanceService::resyncLoop() {
    auto started = std::chrono::steady_clock::now();
    bool firstPass = true;
    while (!stopping_.load()) {
        bool allHosts = co_await reconcile();
        if (std::exchange(firstPass, false)) {
            // Start-up is done once the store and libvirt were compared (bench/scale times it).
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                            started);
            std::size_t instances = 0;
            {
                std::shared_lock lock(mutex_);
                instances = byId_.size();
            }
            log::info("start-up reconcile done", {{"instances", std::to_string(instances)},
                                                  {"all_hosts", allHosts ? "yes" : "no"},
                                                  {"ms", std::to_string(ms.count())}});
        }
        bool reached = allHosts && !resyncSoon_.exchange(false);
        if (stopping_.load()) {
            co_return;  // stop() may have cancelled before this wait was armed
        }
        // While libvirt is unreachable, retry every second (the connection backs off by
        // itself) rather than after a full interval.
        resyncTimer_.expires_after(reached ? options_.resyncInterval : std::chrono::milliseconds(1000));
        boost::system::error_code ec;
        co_await resyncTimer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void InstanceService::domainChanged(const model::Uuid& instanceId) {
    asio::post(executor_, [this, instanceId] { schedule(instanceId, Job::Observe); });
}

// The connection closed: reconcile as soon as it can be reopened (the reconnect
// re-registers the event callbacks), so nothing that changed meanwhile is missed.
void InstanceService::connectionLost(std::size_t host) {
    log::warn("libvirt connection lost; will reconnect and resync", {{"host", hosts_[host].binding.name}});
    {
        std::unique_lock lock(mutex_);
        hosts_[host].reachable = false;
        hosts_[host].problem = "the libvirt connection closed; reconnecting";
    }
    resyncSoon_.store(true);
    asio::post(resyncStrand_, [this] { resyncTimer_.cancel(); });
}

// A device came or went (hotplug, a driver rebind): the next pass reads the inventory again.
void InstanceService::devicesChanged(std::size_t host) {
    log::info("host devices changed; refreshing inventory", {{"host", hosts_[host].binding.name}});
    resyncSoon_.store(true);
    asio::post(resyncStrand_, [this] { resyncTimer_.cancel(); });
}

void InstanceService::retryLater(const model::Uuid& id, std::chrono::milliseconds after) {
    auto timer = std::make_shared<asio::steady_timer>(executor_, after);
    timer->async_wait([this, id, timer](const boost::system::error_code& ec) {
        if (!ec && !stopping_.load()) {
            schedule(id, Job::Converge);
        }
    });
}

}  // namespace gpuhost::agent

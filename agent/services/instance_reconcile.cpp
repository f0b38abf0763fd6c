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
    hypervisor_.watch(*this);
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
                                              std::optional<std::string> ip, std::string reason) {
    {
        // Only if nothing changed it meanwhile (a DELETE admitted while a create ran wins).
        std::unique_lock lock(mutex_);
        auto it = byId_.find(id);
        if (it == byId_.end() || it->second.admitting || it->second.instance.state != from) {
            co_return false;
        }
        it->second.admitting = true;
        it->second.pending = to;
    }
    auto write = [this, id, to, ip, reason] { return store_.updateInstanceState(id, to, ip, reason); };
    auto stored = co_await pool_.run(std::move(write));
    std::unique_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end()) {
        co_return false;
    }
    it->second.admitting = false;
    if (!stored) {
        log::error("cannot record instance state",
                   {{"instance", id.str()}, {"error", stored.error().message}});
        co_return false;
    }
    it->second.instance.state = to;
    it->second.instance.ip = ip;
    it->second.instance.reason = reason;
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
    auto probe = [this, id] { return hypervisor_.powerState(drivers::domainName(id)); };
    auto power = co_await pool_.run(std::move(probe));
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
    if (*power == PowerState::Running && from != InstanceState::Running) {
        if (co_await record(id, from, InstanceState::Running, std::nullopt, "")) {
            schedule(id, Job::Address);
        }
    } else if (*power == PowerState::ShutOff && from == InstanceState::Running) {
        co_await record(id, from, InstanceState::Stopped, std::nullopt, "the guest powered off");
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
    auto ask = [this, id] {
        return hypervisor_.guestAddress(drivers::domainName(id), drivers::macAddressFor(id));
    };
    auto address = co_await pool_.run(std::move(ask));
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
    auto inventory =
        [this]() -> Result<std::pair<drivers::HostResources, std::vector<drivers::ManagedDomain>>> {
        auto host = hypervisor_.hostResources();
        if (!host) {
            return host.error();
        }
        if (auto pool = storage_.ensurePool(); !pool) {
            return pool.error();
        }
        auto domains = hypervisor_.listManagedDomains();
        if (!domains) {
            return domains.error();
        }
        return std::make_pair(*host, std::move(*domains));
    };
    auto seen = co_await pool_.run(std::move(inventory));
    if (!seen) {
        log::warn("reconcile: libvirt unavailable", {{"error", seen.error().message}});
        co_return false;
    }
    std::map<model::Uuid, PowerState> listed;
    for (const auto& domain : seen->second) {
        if (domain.agentId == agentId_) {
            listed[domain.instanceId] = domain.state;
        }
    }
    std::vector<std::pair<model::Uuid, Job>> jobs;
    {
        std::unique_lock lock(mutex_);
        host_ = seen->first;
        for (auto& [id, entry] : byId_) {
            if (entry.admitting) {
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
    co_await removeOrphans(seen->second);
    co_return true;
}

// Domains and volumes of this agent whose instance is not in the store: left by a
// crash between libvirt's work and the store's, or by a store restored from backup.
asio::awaitable<void> InstanceService::removeOrphans(const std::vector<drivers::ManagedDomain>& domains) {
    std::vector<std::string> orphanDomains;
    std::set<model::Uuid> known;
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, entry] : byId_) {
            known.insert(id);
        }
    }
    for (const auto& domain : domains) {
        if (domain.agentId == agentId_ && !known.contains(domain.instanceId)) {
            orphanDomains.push_back(domain.name);
        }
    }
    auto sweep = [this, orphanDomains, known]() -> Result<void> {
        for (const auto& name : orphanDomains) {
            log::warn("removing orphan domain", {{"domain", name}});
            // NotFound: it went between the listing and now, which is what we want.
            if (auto destroyed = hypervisor_.destroyDomain(name);
                !destroyed && destroyed.error().code != ErrorCode::NotFound) {
                return destroyed;
            }
            if (auto undefined = hypervisor_.undefineDomain(name); !undefined) {
                return undefined;
            }
        }
        auto volumes = storage_.listVolumes();
        if (!volumes) {
            return volumes.error();
        }
        for (const auto& volume : *volumes) {
            auto owner = instanceIdFromVolumeName(volume.name);
            // Re-check under the lock: an instance created since the snapshot is not an orphan.
            if (owner && !known.contains(*owner) && !snapshot(*owner)) {
                log::warn("removing orphan volume", {{"volume", volume.name}});
                if (auto removed = storage_.deleteVolume(volume.name); !removed) {
                    return removed;
                }
            }
        }
        return {};
    };
    if (auto swept = co_await pool_.run(std::move(sweep)); !swept) {
        log::warn("orphan sweep incomplete", {{"error", swept.error().message}});
    }
}

asio::awaitable<void> InstanceService::resyncLoop() {
    while (!stopping_.load()) {
        bool reached = co_await reconcile() && !resyncSoon_.exchange(false);
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
void InstanceService::connectionLost() {
    log::warn("libvirt connection lost; will reconnect and resync", {});
    resyncSoon_.store(true);
    asio::post(resyncStrand_, [this] { resyncTimer_.cancel(); });
}

}  // namespace gpuhost::agent

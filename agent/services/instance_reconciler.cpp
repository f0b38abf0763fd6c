// InstanceReconciler: per-host resync loops, libvirt events and the orphan sweep.
#include "services/instance_reconciler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <set>

#include "log.hpp"
#include "services/instance_provisioner.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using drivers::PowerState;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

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

}  // namespace

/// Forwards one host's libvirt events, saying which host. Runs on libvirt's event thread:
/// only hands the event over.
class InstanceReconciler::HostEvents final : public drivers::HypervisorEvents {
  public:
    HostEvents(InstanceReconciler& reconciler, std::size_t host) : reconciler_(reconciler), host_(host) {}
    void domainChanged(const model::Uuid& instanceId) override {
        reconciler_.controller_.schedule(instanceId, Observe);
    }
    // The connection closed: reconcile as soon as it can be reopened (the reconnect
    // re-registers the event callbacks), so nothing that changed meanwhile is missed.
    void connectionLost() override {
        log::warn("libvirt connection lost; will reconnect and resync",
                  {{"host", reconciler_.hosts_.binding(host_).name}});
        reconciler_.hosts_.markUnreachable(host_, "the libvirt connection closed; reconnecting");
        reconciler_.kick(host_);
    }
    // A device came or went (hotplug, a driver rebind): the next pass reads the inventory again.
    void devicesChanged() override {
        log::info("host devices changed; refreshing inventory",
                  {{"host", reconciler_.hosts_.binding(host_).name}});
        reconciler_.kick(host_);
    }

  private:
    InstanceReconciler& reconciler_;
    std::size_t host_;
};

InstanceReconciler::InstanceReconciler(asio::any_io_executor executor, InstanceTable& table,
                                       HostRegistry& hosts, const Catalog& catalog,
                                       InstanceController& controller, ImageCache& images,
                                       std::chrono::milliseconds interval)
    : executor_(executor),
      table_(table),
      hosts_(hosts),
      catalog_(catalog),
      controller_(controller),
      images_(images),
      interval_(interval) {
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        auto loop = std::make_unique<HostLoop>();
        loop->events = std::make_unique<HostEvents>(*this, h);
        loop->strand = asio::make_strand(executor_);
        loop->timer = std::make_unique<asio::steady_timer>(loop->strand);
        loops_.push_back(std::move(loop));
    }
}

InstanceReconciler::~InstanceReconciler() = default;

void InstanceReconciler::start(const model::Uuid& agentId) {
    agentId_ = agentId;
    started_ = std::chrono::steady_clock::now();
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        hosts_.binding(h).hypervisor->watch(*loops_[h]->events);
        asio::co_spawn(loops_[h]->strand, loop(h), asio::detached);
    }
}

void InstanceReconciler::stop() {
    stopping_.store(true);
    for (auto& loop : loops_) {
        asio::post(loop->strand, [timer = loop->timer.get()] { timer->cancel(); });
    }
}

void InstanceReconciler::kick(std::size_t h) {
    loops_[h]->soon.store(true);
    asio::post(loops_[h]->strand, [timer = loops_[h]->timer.get()] { timer->cancel(); });
}

asio::awaitable<void> InstanceReconciler::loop(std::size_t h) {
    bool firstPass = true;
    auto& state = *loops_[h];
    while (!stopping_.load()) {
        state.soon.store(false);
        bool reached = co_await reconcileHost(h);
        finishHomeless();
        if (std::exchange(firstPass, false)) {
            firstPassDone();
        }
        if (stopping_.load()) {
            co_return;  // stop() may have cancelled before this wait was armed
        }
        // While libvirt is unreachable, retry every second (the connection backs off by
        // itself) rather than after a full interval.
        bool again = !reached || state.soon.load();
        state.timer->expires_after(again ? std::chrono::milliseconds(1000) : interval_);
        boost::system::error_code ec;
        co_await state.timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void InstanceReconciler::firstPassDone() {
    if (firstPasses_.fetch_add(1) + 1 != hosts_.size()) {
        return;
    }
    // Start-up is done once the store and libvirt were compared on every host (bench/scale times it).
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_)
            .count();
    std::size_t instances = 0;
    {
        auto shared = table_.share();
        instances = table_.index().size();
    }
    log::info("start-up reconcile done",
              {{"instances", std::to_string(instances)},
               {"all_hosts", hosts_.reachableCount() == hosts_.size() ? "yes" : "no"},
               {"ms", std::to_string(ms)}});
}

void InstanceReconciler::finishHomeless() {
    // Not in any host's pass: finish their interrupted work here. (Found by the GPU crash
    // test: an out-of-stock instance killed mid-delete stayed `deleting`.)
    auto homeless = table_.select([this](const InstanceEntry& entry) {
        return !entry.admitting && isTransitional(entry.instance.state) &&
               hosts_.indexOf(entry.instance.host) == HostRegistry::kNoHost;
    });
    for (const auto& id : homeless) {
        controller_.schedule(id, Converge);
    }
}

// One host: refresh what it has, finish interrupted jobs of its instances, adopt what
// its domains show, and remove this agent's orphans there.
asio::awaitable<bool> InstanceReconciler::reconcileHost(std::size_t h) {
    const auto& binding = hosts_.binding(h);
    auto inventory = [this, h, &binding]() -> Result<std::vector<drivers::ManagedDomain>> {
        if (auto known = hosts_.refreshBlocking(h); !known) {
            return known.error();
        }
        if (auto pool = binding.storage->ensurePool(); !pool) {
            return pool.error();
        }
        return binding.hypervisor->listManagedDomains();
    };
    auto seen = co_await binding.pool->run(std::move(inventory));
    if (!seen) {
        log::warn("reconcile: host unavailable", {{"host", binding.name}, {"error", seen.error().message}});
        hosts_.markUnreachable(h, seen.error().message);
        co_return false;
    }
    std::map<model::Uuid, PowerState> listed;
    for (const auto& domain : *seen) {
        if (domain.agentId == agentId_) {
            listed[domain.instanceId] = domain.state;
        }
    }
    std::vector<std::pair<model::Uuid, InstanceJob>> jobs;
    {
        auto shared = table_.share();  // only reads: readers of the API need not wait
        for (const auto& [id, slot] : table_.index().all()) {
            const auto& entry = slot.entry;
            if (entry.admitting || entry.instance.host != binding.name) {
                continue;
            }
            auto power = listed.find(id);
            if (isTransitional(entry.instance.state)) {
                jobs.emplace_back(id, Converge);
            } else if (listedDisagrees(entry.instance,
                                       power == listed.end() ? std::nullopt : std::optional(power->second))) {
                jobs.emplace_back(id, Observe);
            }
        }
    }
    for (const auto& [id, job] : jobs) {
        controller_.schedule(id, job);
    }
    co_await removeOrphans(h, *seen);
    co_return true;
}

// Domains and volumes of this agent whose instance is not in the store: left by a
// crash between libvirt's work and the store's, or by a store restored from backup.
// Base images nothing uses any more go too.
asio::awaitable<void> InstanceReconciler::removeOrphans(std::size_t h,
                                                        const std::vector<drivers::ManagedDomain>& domains) {
    std::vector<std::string> orphanDomains;
    std::set<model::Uuid> known;  // instances that live on this host (or are not placed yet)
    const auto& binding = hosts_.binding(h);
    {
        auto shared = table_.share();
        for (const auto& [id, slot] : table_.index().all()) {
            if (slot.entry.instance.host == binding.name || slot.entry.instance.host.empty()) {
                known.insert(id);
            }
        }
    }
    for (const auto& domain : domains) {
        if (domain.agentId == agentId_ && !known.contains(domain.instanceId)) {
            orphanDomains.push_back(domain.name);
        }
    }
    auto sweep = [this, h, orphanDomains, known, &binding]() -> Result<std::vector<std::string>> {
        auto& hypervisor = *binding.hypervisor;
        auto& storage = *binding.storage;
        for (const auto& name : orphanDomains) {
            log::warn("removing orphan domain", {{"domain", name}, {"host", binding.name}});
            // NotFound: it went between the listing and now, which is what we want.
            if (auto destroyed = hypervisor.destroyDomain(name);
                !destroyed && destroyed.error().code != ErrorCode::NotFound) {
                return destroyed.error();
            }
            if (auto undefined = hypervisor.undefineDomain(name); !undefined) {
                return undefined.error();
            }
        }
        auto volumes = storage.listVolumes();
        if (!volumes) {
            return volumes.error();
        }
        std::vector<drivers::Volume> kept;
        for (const auto& volume : *volumes) {
            auto owner = instanceIdFromVolumeName(volume.name);
            // Re-check: an instance created since the snapshot is not an orphan.
            auto now = owner ? table_.snapshot(*owner) : std::nullopt;
            bool here = now && (now->host == binding.name || now->host.empty());
            if (owner && !known.contains(*owner) && !here) {
                log::warn("removing orphan volume", {{"volume", volume.name}, {"host", binding.name}});
                if (auto removed = storage.deleteVolume(volume.name); !removed) {
                    return removed.error();
                }
                continue;
            }
            kept.push_back(volume);
        }
        return images_.sweepBlocking(h, kept, catalog_.images());
    };
    auto swept = co_await binding.pool->run(std::move(sweep));
    if (!swept) {
        log::warn("orphan sweep incomplete", {{"host", binding.name}, {"error", swept.error().message}});
        co_return;
    }
    if (!swept->empty()) {
        if (auto forgotten = co_await images_.forget(h, *swept); !forgotten) {
            log::warn("cannot forget swept base images", {{"error", forgotten.error().message}});
        }
    }
}

}  // namespace gpuhost::agent

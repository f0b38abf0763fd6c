// InstanceTable: the instances in memory and their durable state changes.
#include "services/instance_table.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Instance;
using model::InstanceState;

bool holdsResources(InstanceState state) {
    using enum InstanceState;
    return state == Creating || state == Starting || state == Running || state == Stopping ||
           state == Deleting;
}

bool isTransitional(InstanceState state) {
    using enum InstanceState;
    return state == Creating || state == Starting || state == Stopping || state == Deleting;
}

void InstanceTable::load(std::vector<Instance> instances) {
    auto locked = lock();
    for (auto& instance : instances) {  // the store loads in creation order
        addLocked(instance, false);
    }
}

InstanceEntry& InstanceTable::addLocked(const Instance& instance, bool pending) {
    macs_.insert(drivers::macAddressFor(instance.id));
    return index_.add(InstanceEntry{instance, false, instance.state, std::nullopt, 0}, pending);
}

void InstanceTable::eraseLocked(const model::Uuid& id) {
    macs_.erase(drivers::macAddressFor(id));
    index_.erase(id);
    settledLocked(id);
}

std::vector<model::Holding> InstanceTable::holdingsLocked(const Catalog& catalog, const HostRegistry& hosts,
                                                          const model::Uuid* except) const {
    std::vector<model::Holding> holdings;
    holdings.reserve(index_.size());
    for (const auto& [id, slot] : index_.all()) {
        const auto& entry = slot.entry;
        auto h = hosts.indexOf(entry.instance.host);
        if (h == HostRegistry::kNoHost || (except != nullptr && id == *except)) {
            continue;
        }
        auto state = entry.admitting ? entry.pending : entry.instance.state;
        model::Holding holding{h, 0, 0, &entry.instance.gpus};
        // An instance in error keeps what it holds while it holds GPUs: its domain may run.
        bool holds =
            holdsResources(state) || (state == InstanceState::Failed && !entry.instance.gpus.empty());
        const auto* type = catalog.findInstanceType(entry.instance.type);
        if (type != nullptr && holds) {
            holding.cpus = type->cpu;
            holding.memoryBytes = static_cast<double>(type->memoryBytes);
        }
        holdings.push_back(holding);
        // A change being written holds both the old and the new GPUs until it commits:
        // GPUs it releases are not handed out before the store agrees.
        if (entry.admitting && entry.pendingGpus) {
            holdings.push_back({h, 0, 0, &*entry.pendingGpus});
        }
    }
    return holdings;
}

std::vector<PreemptibleHolding> InstanceTable::candidatesLocked(const Catalog& catalog,
                                                                const HostRegistry& hosts,
                                                                std::vector<model::Uuid>& ids) const {
    std::vector<PreemptibleHolding> candidates;
    for (const auto& [id, slot] : index_.all()) {
        const auto& entry = slot.entry;
        auto h = hosts.indexOf(entry.instance.host);
        const auto* type = catalog.findInstanceType(entry.instance.type);
        if (!entry.instance.preemptible || entry.admitting ||
            entry.instance.state != InstanceState::Running || h == HostRegistry::kNoHost || type == nullptr) {
            continue;
        }
        candidates.push_back(PreemptibleHolding{h, static_cast<double>(type->cpu),
                                                static_cast<double>(type->memoryBytes), entry.instance.gpus});
        ids.push_back(id);
    }
    return candidates;
}

std::optional<Instance> InstanceTable::snapshot(const model::Uuid& id) const {
    auto shared = share();
    const auto* entry = index_.find(id);
    return entry == nullptr ? std::nullopt : std::optional(entry->instance);
}

bool InstanceTable::stillIn(const model::Uuid& id, InstanceState state) const {
    auto shared = share();
    const auto* entry = index_.find(id);
    return entry != nullptr && entry->instance.state == state && !entry->admitting;
}

std::vector<model::Uuid> InstanceTable::select(const std::function<bool(const InstanceEntry&)>& pick) const {
    std::vector<model::Uuid> ids;
    auto shared = share();
    for (const auto& [id, slot] : index_.all()) {
        if (pick(slot.entry)) {
            ids.push_back(id);
        }
    }
    return ids;
}

asio::awaitable<bool> InstanceTable::record(const model::Uuid& id, InstanceState from, InstanceState to,
                                            std::optional<std::string> ip, std::string reason,
                                            std::optional<std::vector<model::PciAddress>> gpus) {
    {
        // Only if nothing changed it meanwhile (a DELETE admitted while a create ran wins).
        auto locked = lock();
        auto* entry = index_.find(id);
        if (entry == nullptr || entry->admitting || entry->instance.state != from) {
            co_return false;
        }
        entry->admitting = true;
        entry->pending = to;
        entry->pendingGpus = gpus;
    }
    auto write = [this, id, to, ip, reason, gpus] {
        return store_.updateInstances({InstanceUpdate{id, to, ip, reason, gpus}});
    };
    auto stored = co_await storePool_.run(std::move(write));
    auto locked = lock();
    auto* entry = index_.find(id);
    if (entry == nullptr) {
        co_return false;
    }
    endChangeLocked(id);
    if (!stored) {
        log::error("cannot record instance state",
                   {{"instance", id.str()}, {"error", stored.error().message}});
        co_return false;
    }
    entry->instance.state = to;
    entry->instance.ip = ip;
    entry->instance.reason = reason;
    if (gpus) {
        entry->instance.gpus = *gpus;
    }
    if (to == InstanceState::Running && from != InstanceState::Running) {
        entry->addressTries = 0;  // a fresh boot gets the full time to report an address
    }
    if (from != to) {
        log::info(
            "instance state",
            {{"instance", id.str()}, {"from", std::string(nameOf(from))}, {"to", std::string(nameOf(to))}});
    }
    co_return true;
}

asio::awaitable<bool> InstanceTable::forget(const model::Uuid& id) {
    auto remove = [this, id] { return store_.deleteInstance(id); };
    if (auto removed = co_await storePool_.run(std::move(remove)); !removed) {
        log::warn("cannot remove a deleted instance from the store; retrying",
                  {{"instance", id.str()}, {"error", removed.error().message}});
        co_return false;
    }
    auto locked = lock();
    eraseLocked(id);
    co_return true;
}

asio::awaitable<bool> InstanceTable::whenSettled(const model::Uuid& id, const std::function<bool()>& change) {
    auto executor = co_await asio::this_coro::executor;
    for (;;) {
        std::shared_ptr<Signal> signal;
        {
            auto locked = lock();
            const auto* entry = index_.find(id);
            if (entry == nullptr || !entry->admitting) {
                co_return change();
            }
            signal = std::make_shared<Signal>(executor, 1);
            waiters_.emplace(id, signal);
        }
        boost::system::error_code ec;
        co_await signal->async_receive(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void InstanceTable::endChangeLocked(const model::Uuid& id) {
    if (auto* entry = index_.find(id)) {
        entry->admitting = false;
        entry->pendingGpus.reset();
    }
    settledLocked(id);
}

void InstanceTable::settledLocked(const model::Uuid& id) {
    auto [first, last] = waiters_.equal_range(id);
    for (auto it = first; it != last; ++it) {
        it->second->try_send(boost::system::error_code{});
    }
    waiters_.erase(first, last);
}

}  // namespace gpuhost::agent

#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "blocking_pool.hpp"
#include "model/instance.hpp"
#include "model/placement.hpp"
#include "services/catalog.hpp"
#include "services/host_registry.hpp"
#include "services/resource_index.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// One instance as the agent holds it in memory.
struct InstanceEntry {
    model::Instance instance;
    bool admitting = false;  // a change is being made durable; others wait for it
    model::InstanceState pending{};
    std::optional<std::vector<model::PciAddress>> pendingGpus;  // with `admitting`: GPUs held after it
    unsigned addressTries = 0;
};

struct InstanceIndexTraits {
    static model::Uuid id(const InstanceEntry& entry) { return entry.instance.id; }
    static model::Uuid owner(const InstanceEntry& entry) { return entry.instance.projectId; }
    /// User instances' names are unique in their project, members' within their cluster.
    static std::string scope(const InstanceEntry& entry) {
        return entry.instance.owner ? entry.instance.owner->clusterId.str() : std::string();
    }
    static const std::string& name(const InstanceEntry& entry) { return entry.instance.name; }
};

/// States in which an instance holds (or is about to hold) host CPU and memory. Deleting
/// counts until the domain is gone: it may still be running.
bool holdsResources(model::InstanceState state);
bool isTransitional(model::InstanceState state);

/// The instances in memory, and the one way their state changes after admission
/// (record()). Admission and the controller compose their changes under lock(); the
/// store is the durable truth, written before the table changes.
class InstanceTable {
  public:
    using Index = ResourceIndex<InstanceEntry, InstanceIndexTraits>;

    InstanceTable(InstanceStore& store, BlockingPool& storePool) : store_(store), storePool_(storePool) {}

    void load(std::vector<model::Instance> instances);

    /// Every change is made under this lock, so taking it bumps the generation: a list
    /// rendered under share() at generation g has seen every change counted up to g.
    std::unique_lock<std::shared_mutex> lock() const {
        std::unique_lock locked(mutex_);
        generation_.fetch_add(1, std::memory_order_acq_rel);
        return locked;
    }
    std::shared_lock<std::shared_mutex> share() const { return std::shared_lock(mutex_); }
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    /// With lock() or share() held.
    Index& index() { return index_; }
    const Index& index() const { return index_; }
    /// With lock(): adds an entry and its MAC (pending: invisible to readers until commit).
    InstanceEntry& addLocked(const model::Instance& instance, bool pending);
    void eraseLocked(const model::Uuid& id);
    bool macInUseLocked(const std::string& mac) const { return macs_.contains(mac); }

    /// What every instance holds on the hosts (except `except`), for a placement pass:
    /// valid while the lock is held.
    std::vector<model::Holding> holdingsLocked(const Catalog& catalog, const HostRegistry& hosts,
                                               const model::Uuid* except = nullptr) const;
    /// Running preemptible instances (ids in `ids`, same order), for admit()'s candidates.
    std::vector<PreemptibleHolding> candidatesLocked(const Catalog& catalog, const HostRegistry& hosts,
                                                     std::vector<model::Uuid>& ids) const;

    std::optional<model::Instance> snapshot(const model::Uuid& id) const;
    /// Still in `state`, with no change being admitted.
    bool stillIn(const model::Uuid& id, model::InstanceState state) const;
    /// Ids of the instances for which `pick` is true (under share()).
    std::vector<model::Uuid> select(const std::function<bool(const InstanceEntry&)>& pick) const;

    /// Persists `to` if the instance is still in `from` and no request is changing it.
    /// With `gpus`, the instance holds those from now on (empty: releases them).
    boost::asio::awaitable<bool> record(const model::Uuid& id, model::InstanceState from,
                                        model::InstanceState to, std::optional<std::string> ip,
                                        std::string reason,
                                        std::optional<std::vector<model::PciAddress>> gpus = std::nullopt);
    /// Removes the instance from the store, then from memory.
    boost::asio::awaitable<bool> forget(const model::Uuid& id);

    /// Waits until no change of `id` is being made durable, then runs `change` under the
    /// lock (it returns false to give up). Waits on the change in flight, not by polling.
    boost::asio::awaitable<bool> whenSettled(const model::Uuid& id, const std::function<bool()>& change);

    /// With lock(): the change in flight is over (written or not); wakes whoever waits.
    void endChangeLocked(const model::Uuid& id);

  private:
    void settledLocked(const model::Uuid& id);

    InstanceStore& store_;
    BlockingPool& storePool_;
    mutable std::shared_mutex mutex_;
    mutable std::atomic<std::uint64_t> generation_{0};
    Index index_;
    std::set<std::string> macs_;  // the NICs' MACs: one per instance, never shared
    /// Requests waiting for an instance's change in flight (see whenSettled): each is told
    /// once through its channel, which holds the signal if it comes before the wait.
    using Signal = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;
    std::multimap<model::Uuid, std::shared_ptr<Signal>> waiters_;
};

}  // namespace gpuhost::agent

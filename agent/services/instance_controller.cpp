// InstanceController: jobs that drive each instance from its stored state to what
// libvirt shows, and back. Every job is idempotent; a job cut short by a crash is run
// again by the reconciler after the restart.
#include "services/instance_controller.hpp"

#include <boost/asio/post.hpp>

#include "log.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using drivers::PowerState;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

// A guest gets an address some seconds after boot (the agent starts, DHCP answers):
// ask every 2 s for five minutes, then leave it to the resync loop.
constexpr unsigned kAddressTries = 150;
constexpr auto kAddressInterval = std::chrono::seconds(2);

}  // namespace

InstanceController::InstanceController(asio::any_io_executor executor, InstanceTable& table,
                                       const HostRegistry& hosts, const Catalog& catalog,
                                       InstanceProvisioner& provisioner, RetryPolicy retry)
    : executor_(executor),
      table_(table),
      hosts_(hosts),
      catalog_(catalog),
      provisioner_(provisioner),
      queue_(
          executor, [this](model::Uuid id, unsigned job) { return run(id, job); }, retry) {}

void InstanceController::stop() {
    provisioner_.stop();
    queue_.stop();
}

void InstanceController::addObserver(MemberObserver& observer) {
    std::lock_guard lock(observersMutex_);
    observers_.push_back(&observer);
}

void InstanceController::removeObserver(MemberObserver& observer) {
    std::lock_guard lock(observersMutex_);
    std::erase(observers_, &observer);
}

void InstanceController::notify(const Instance& instance) {
    if (!instance.owner) {
        return;
    }
    std::lock_guard lock(observersMutex_);
    for (auto* observer : observers_) {
        asio::post(executor_, [observer, instance] { observer->memberChanged(instance); });
    }
}

void InstanceController::notifyGone(const model::Uuid& id, const model::InstanceOwner& owner) {
    std::lock_guard lock(observersMutex_);
    for (auto* observer : observers_) {
        asio::post(executor_, [observer, id, owner] { observer->memberGone(id, owner); });
    }
}

asio::awaitable<WorkOutcome> InstanceController::run(model::Uuid id, unsigned job) {
    log::debug("instance job", {{"instance", id.str()}, {"job", std::to_string(job)}});
    switch (job) {
        case Converge:
            co_return co_await converge(id);
        case Observe:
            co_return co_await observe(id);
        default:
            co_return co_await refreshAddress(id);
    }
}

asio::awaitable<bool> InstanceController::record(const model::Uuid& id, InstanceState from, InstanceState to,
                                                 std::optional<std::string> ip, std::string reason,
                                                 std::optional<std::vector<model::PciAddress>> gpus) {
    bool recorded = co_await table_.record(id, from, to, std::move(ip), std::move(reason), std::move(gpus));
    if (recorded) {
        if (auto now = table_.snapshot(id)) {
            notify(*now);
        }
    }
    co_return recorded;
}

asio::awaitable<WorkOutcome> InstanceController::converge(model::Uuid id) {
    auto instance = table_.snapshot(id);
    if (!instance) {
        co_return WorkOutcome::Done;
    }
    auto from = instance->state;
    bool homeless = hosts_.indexOf(instance->host) == HostRegistry::kNoHost;
    if (homeless && from == InstanceState::Deleting) {
        // Out-of-stock instances have no host by design; one whose host left the
        // configuration has nothing here that can reach its domain any more.
        if (!instance->host.empty()) {
            log::warn("forgetting an instance whose host is gone",
                      {{"instance", id.str()}, {"host", instance->host}});
        }
        bool forgotten = co_await table_.forget(id);
        if (forgotten && instance->owner) {
            notifyGone(id, *instance->owner);
        }
        co_return forgotten ? WorkOutcome::Done : WorkOutcome::Retry;
    }
    if (homeless) {
        co_return WorkOutcome::Done;  // shown as error (see InstanceService::visible); delete is the way out
    }
    Result<void> done;
    switch (from) {
        case InstanceState::Creating:
        case InstanceState::Starting:
            done = co_await provisioner_.provision(*instance,
                                                   from == InstanceState::Creating || instance->ephemeral);
            break;
        case InstanceState::Stopping:
            done = co_await provisioner_.powerOff(*instance);
            break;
        case InstanceState::Deleting:
            done = co_await provisioner_.teardown(*instance);
            break;
        default:
            co_return WorkOutcome::Done;  // steady states: nothing to drive
    }
    if (!done && (done.error().code == ErrorCode::Unavailable || queue_.stopping())) {
        // libvirt unreachable, GPUs still held by a preempted domain, a filesystem not
        // mounted yet, or the agent stopping: stay transitional and try again soon.
        log::warn("instance job deferred", {{"instance", id.str()}, {"error", done.error().message}});
        co_return WorkOutcome::Retry;
    }
    if (!done) {
        log::error("instance job failed", {{"instance", id.str()}, {"error", done.error().message}});
        co_await record(id, from, InstanceState::Failed, std::nullopt, done.error().message);
        co_return WorkOutcome::Done;
    }
    if (from == InstanceState::Deleting) {
        if (!co_await table_.forget(id)) {
            co_return WorkOutcome::Retry;
        }
        log::info("instance deleted", {{"instance", id.str()}});
        if (instance->owner) {
            notifyGone(id, *instance->owner);
        }
        co_return WorkOutcome::Done;
    }
    // A stopped instance gives its GPUs back (its domain is off now); a preempted one
    // keeps the reason it was stopped.
    if (from == InstanceState::Stopping) {
        co_await record(id, from, InstanceState::Stopped, std::nullopt, instance->reason,
                        std::vector<model::PciAddress>{});
        co_return WorkOutcome::Done;
    }
    if (co_await record(id, from, InstanceState::Running, std::nullopt, "")) {
        schedule(id, Address);
    }
    co_return WorkOutcome::Done;
}

// Adopts what libvirt says for an instance in a steady state: a guest that powered
// itself off is stopped, a crashed one is in error, a vanished domain is an error.
asio::awaitable<WorkOutcome> InstanceController::observe(model::Uuid id) {
    auto instance = table_.snapshot(id);
    if (!instance || isTransitional(instance->state) || instance->state == InstanceState::OutOfStock) {
        co_return WorkOutcome::Done;
    }
    auto h = hosts_.indexOf(instance->host);
    if (h == HostRegistry::kNoHost) {
        co_return WorkOutcome::Done;
    }
    const auto& host = hosts_.binding(h);
    auto probe = [id, hypervisor = host.hypervisor] {
        return hypervisor->powerState(drivers::domainName(id));
    };
    auto power = co_await host.pool->run(std::move(probe));
    auto from = instance->state;
    if (!power && power.error().code == ErrorCode::NotFound) {
        if (from != InstanceState::Failed) {
            co_await record(id, from, InstanceState::Failed, std::nullopt,
                            "the domain vanished from libvirt");
        }
        co_return WorkOutcome::Done;
    }
    if (!power) {
        co_return WorkOutcome::Done;  // host unreachable: keep the last known state; the resync asks again
    }
    const auto* type = catalog_.findInstanceType(instance->type);
    bool withoutItsGpus = type != nullptr && type->gpuCount > 0 && instance->gpus.size() != type->gpuCount;
    if (*power == PowerState::Running && withoutItsGpus) {
        // Its GPUs were given away (it was preempted, or stopped, and its stop failed or
        // something restarted it): it must not keep devices another instance owns now.
        log::warn("destroying a domain that runs without its GPUs", {{"instance", id.str()}});
        auto destroy = [id, hypervisor = host.hypervisor] {
            return hypervisor->destroyDomain(drivers::domainName(id));
        };
        if (auto destroyed = co_await host.pool->run(std::move(destroy));
            destroyed && from != InstanceState::Stopped) {
            co_await record(id, from, InstanceState::Stopped, std::nullopt,
                            "stopped: it was running without its GPUs, which belong to another instance now",
                            std::vector<model::PciAddress>{});
        }
    } else if (*power == PowerState::Running && from != InstanceState::Running) {
        if (co_await record(id, from, InstanceState::Running, std::nullopt, "")) {
            schedule(id, Address);
        }
    } else if (*power == PowerState::ShutOff && from == InstanceState::Running) {
        co_await record(id, from, InstanceState::Stopped, std::nullopt, "the guest powered off",
                        std::vector<model::PciAddress>{});
    } else if (*power == PowerState::Crashed && from != InstanceState::Failed) {
        co_await record(id, from, InstanceState::Failed, std::nullopt, "the guest crashed");
    } else if (*power == PowerState::Running && !instance->ip) {
        schedule(id, Address);
    }
    co_return WorkOutcome::Done;
}

asio::awaitable<WorkOutcome> InstanceController::refreshAddress(model::Uuid id) {
    auto instance = table_.snapshot(id);
    if (!instance || instance->state != InstanceState::Running || instance->ip) {
        co_return WorkOutcome::Done;
    }
    auto h = hosts_.indexOf(instance->host);
    if (h == HostRegistry::kNoHost) {
        co_return WorkOutcome::Done;
    }
    const auto& host = hosts_.binding(h);
    auto ask = [id, hypervisor = host.hypervisor] {
        return hypervisor->guestAddress(drivers::domainName(id), drivers::macAddressFor(id));
    };
    auto address = co_await host.pool->run(std::move(ask));
    if (address && *address) {
        co_await record(id, InstanceState::Running, InstanceState::Running, *address, instance->reason);
        co_return WorkOutcome::Done;
    }
    unsigned tries = kAddressTries;
    {
        auto locked = table_.lock();
        if (auto* entry = table_.index().find(id)) {
            tries = ++entry->addressTries;
        }
    }
    if (tries < kAddressTries) {
        // Ask again later, off the queue so stop and delete are not held up meanwhile.
        queue_.scheduleAfter(id, Address, kAddressInterval);
    }
    co_return WorkOutcome::Done;
}

}  // namespace gpuhost::agent

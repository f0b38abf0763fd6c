// InstanceService: admission, queries, capacity and the per-instance job queue.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

// Built outside the coroutine: GCC 12 mis-copies aggregates initialised inside one.
Instance newInstance(const model::Uuid& project, model::CreateInstance request) {
    Instance instance;
    instance.id = model::Uuid::random();
    instance.projectId = project;
    instance.name = std::move(request.name);
    instance.type = std::move(request.type);
    instance.image = std::move(request.image);
    instance.userData = std::move(request.userData);
    instance.ephemeral = request.ephemeral;
    instance.preemptible = request.preemptible;
    instance.filesystems = std::move(request.filesystems);
    instance.tags = std::move(request.tags);
    instance.createdAt =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return instance;
}

}  // namespace

InstanceService::InstanceService(InstanceStore& store, const Catalog& catalog, BlockingPool& storePool,
                                 BlockingPool& hostPool, std::vector<HostBinding> hosts,
                                 asio::any_io_executor executor, InstanceOptions options)
    : store_(store),
      catalog_(catalog),
      storePool_(storePool),
      hostPool_(hostPool),
      executor_(executor),
      options_(std::move(options)),
      resyncStrand_(asio::make_strand(executor)),
      resyncTimer_(resyncStrand_) {
    for (auto& binding : hosts) {
        hostByName_[binding.name] = hosts_.size();
        hosts_.push_back(HostState{std::move(binding), {}, {}, {}, false, "not contacted yet", {}});
    }
}

Result<void> InstanceService::loadBlocking() {
    auto agent = store_.agentId();
    if (!agent) {
        return agent.error();
    }
    agentId_ = *agent;
    auto instances = store_.loadInstances();
    if (!instances) {
        return instances.error();
    }
    // Known before the first request when libvirt answers; else the first reconcile or
    // create asks again (the API serves meanwhile).
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        if (auto known = refreshHostBlocking(h); !known) {
            log::warn("host not reachable at start",
                      {{"host", hosts_[h].binding.name}, {"error", known.error().message}});
        }
    }
    std::unique_lock lock(mutex_);
    for (auto& instance : *instances) {
        if (!instance.host.empty() && hostIndex(instance.host) == kNoHost) {
            log::warn("instance on a host that is not configured (shown as error; delete forgets it)",
                      {{"instance", instance.id.str()}, {"host", instance.host}});
        }
        auto id = instance.id;
        byId_[id].instance = std::move(instance);
        byId_[id].order = nextOrder_++;  // the store loads in creation order
    }
    return {};
}

Result<void> InstanceService::checkAgainstCatalog(const model::CreateInstance& request) const {
    if (catalog_.findInstanceType(request.type) == nullptr) {
        return Error::invalid("type", "unknown instance type (see /instance-types)");
    }
    auto image = model::parseImageReference(request.image);
    if (!image) {
        return image.error();
    }
    if (catalog_.findImage(*image) == nullptr) {
        return Error::invalid("image", "unknown image");
    }
    if (request.userData.size() > options_.userDataLimit) {
        return Error::invalid("userData", "is " + std::to_string(request.userData.size()) +
                                              " bytes once decoded; the limit is " +
                                              std::to_string(options_.userDataLimit));
    }
    return {};
}

// userData that cannot take the agent's mount part (gzip, MIME) is refused up front.
Result<void> checkUserDataTakesParts(const model::CreateInstance& request) {
    if (request.filesystems.empty()) {
        return {};
    }
    auto merged = cloudinit::userData(request.userData,
                                      {cloudinit::Part{"text/cloud-config", "probe", "#cloud-config\n"}});
    if (!merged) {
        return Error::invalid("userData",
                              "cannot be combined with filesystem mounts: " + merged.error().message);
    }
    return {};
}

Result<std::size_t> InstanceService::filesystemHost(const model::Uuid& project,
                                                    const std::vector<model::Uuid>& ids) const {
    std::size_t host = kNoHost;
    for (const auto& id : ids) {
        auto found = filesystems_ != nullptr ? filesystems_->find(project, id) : std::nullopt;
        if (!found) {
            return Error{ErrorCode::NotFound, "filesystem " + id.str() + " not found", "filesystems"};
        }
        if (!found->available) {
            return Error{ErrorCode::Conflict, "filesystem " + id.str() + " is not available", "filesystems"};
        }
        auto at = hostIndex(found->host);
        if (at == kNoHost || (host != kNoHost && at != host)) {
            return Error::invalid("filesystems",
                                  "the filesystems live on different hosts; an instance can "
                                  "only attach filesystems of one host");
        }
        host = at;
    }
    return host;
}

asio::awaitable<Result<Instance>> InstanceService::create(const model::Uuid& project,
                                                          model::CreateInstance request) {
    if (auto valid = checkAgainstCatalog(request); !valid) {
        co_return valid.error();
    }
    if (auto parts = checkUserDataTakesParts(request); !parts) {
        co_return parts.error();
    }
    auto onlyHost = filesystemHost(project, request.filesystems);  // a filesystem lives on one host
    if (!onlyHost) {
        co_return onlyHost.error();
    }
    Instance instance = newInstance(project, std::move(request));
    const auto* type = catalog_.findInstanceType(instance.type);
    if (!anyHostKnown()) {
        auto ask = [this]() -> Result<void> {
            for (std::size_t h = 0; h < hosts_.size(); ++h) {
                (void)refreshHostBlocking(h);  // an unreachable host is left out of placement
            }
            return {};
        };
        co_await hostPool_.run(std::move(ask));
    }
    std::vector<InstanceUpdate> evictions;
    std::vector<model::Uuid> victims;
    {
        std::unique_lock lock(mutex_);
        // Out-of-stock is final for the client, so a host that is only briefly unreachable
        // must not cause it: with no host reachable at all, ask the client to retry.
        if (std::none_of(hosts_.begin(), hosts_.end(),
                         [](const HostState& host) { return host.resources && host.reachable; })) {
            co_return Error{
                ErrorCode::Unavailable, "no hypervisor host is reachable (libvirt down); retry", {}};
        }
        for (const auto& [id, entry] : byId_) {
            if (entry.instance.projectId == project && entry.instance.name == instance.name) {
                co_return Error{ErrorCode::Conflict, "this project already has an instance with this name",
                                "name"};
            }
        }
        // The NIC's MAC is derived from the id (24 bits of it): two instances on one network
        // must never share one, so draw again on the rare clash.
        while (macInUseLocked(drivers::macAddressFor(instance.id))) {
            instance.id = model::Uuid::random();
        }
        // Too little room is not an error: the instance is recorded out-of-stock with no
        // domain, as Atlas clients expect (they poll for it and delete); it never starts by itself.
        auto admission = admitLocked(*type, instance.preemptible, *onlyHost, nullptr);
        if (admission) {
            instance.state = InstanceState::Creating;
            instance.host = hosts_[admission->host].binding.name;
            instance.gpus = admission->gpus;
            evictions = evictLocked(*admission, instance.id);
            victims = admission->victims;
        } else {
            instance.state = InstanceState::OutOfStock;
            instance.reason = shortageLocked(*type, *onlyHost);
        }
        // Counted against capacity while the insert is in flight, invisible to readers.
        auto& entry = byId_[instance.id];
        entry.instance = instance;
        entry.admitting = true;
        entry.inserting = true;
        entry.pending = instance.state;
        entry.order = nextOrder_++;
    }
    auto insert = [this, instance, evictions] { return store_.insertInstance(instance, evictions); };
    auto stored = co_await storePool_.run(std::move(insert));
    settleEvictions(victims, instance.id, stored.ok());
    std::unique_lock lock(mutex_);
    if (!stored) {
        byId_.erase(instance.id);
        co_return stored.error();
    }
    byId_[instance.id].admitting = false;
    byId_[instance.id].inserting = false;
    lock.unlock();
    log::info("instance admitted", {{"instance", instance.id.str()},
                                    {"state", std::string(nameOf(instance.state))},
                                    {"host", instance.host},
                                    {"gpus", std::to_string(instance.gpus.size())}});
    if (instance.state == InstanceState::Creating) {
        schedule(instance.id, Job::Converge);
    }
    co_return instance;
}

Result<Instance> InstanceService::get(const model::Uuid& project, const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end() || it->second.inserting || it->second.instance.projectId != project) {
        return Error::notFound("instance");
    }
    return visible(it->second.instance);
}

std::vector<Instance> InstanceService::list(const model::Uuid& project) const {
    std::vector<std::pair<std::uint64_t, const Instance*>> ordered;
    std::vector<Instance> shown;
    std::shared_lock lock(mutex_);
    for (const auto& [id, entry] : byId_) {
        if (entry.instance.projectId == project && !entry.inserting) {
            ordered.emplace_back(entry.order, &entry.instance);
        }
    }
    std::sort(ordered.begin(), ordered.end());  // creation order
    shown.reserve(ordered.size());
    for (const auto& [order, instance] : ordered) {
        shown.push_back(visible(*instance));
    }
    return shown;
}

asio::awaitable<Result<Instance>> InstanceService::act(const model::Uuid& project, const model::Uuid& id,
                                                       model::InstanceAction action) {
    Instance changed;
    std::vector<InstanceUpdate> evictions;
    std::vector<model::Uuid> victims;
    std::optional<std::vector<model::PciAddress>> gpus;
    // Changes to one instance are made durable one at a time: wait for one in flight
    // (a job recording a state, another request) rather than answer 409 for it.
    asio::steady_timer wait(co_await asio::this_coro::executor);
    for (int attempt = 0;; ++attempt) {
        std::unique_lock lock(mutex_);
        auto it = byId_.find(id);
        if (it == byId_.end() || it->second.instance.projectId != project) {
            co_return Error::notFound("instance");
        }
        auto& entry = it->second;
        if (entry.admitting && attempt < 400) {
            lock.unlock();
            wait.expires_after(std::chrono::milliseconds(5));
            co_await wait.async_wait(asio::use_awaitable);
            continue;
        }
        if (entry.admitting) {
            co_return Error{ErrorCode::Unavailable, "the instance is busy; retry", {}};
        }
        if (model::isRepeatedDelete(entry.instance.state, action)) {
            co_return entry.instance;
        }
        auto next = model::applyAction(entry.instance.state, action);
        if (!next) {
            co_return next.error();
        }
        if (action == model::InstanceAction::Start) {
            // Back on its own host (its disk is there), with GPUs taken again.
            const auto* type = catalog_.findInstanceType(entry.instance.type);
            auto host = hostIndex(entry.instance.host);
            if (type == nullptr || host == kNoHost) {
                co_return Error::conflict("the instance's type or host is no longer configured");
            }
            // An instance in error may still hold its GPUs (its domain may run with them):
            // it keeps those, and only CPU and memory are checked.
            bool holdsItsGpus = type->gpuCount > 0 && entry.instance.gpus.size() == type->gpuCount;
            auto needed = *type;
            if (holdsItsGpus) {
                needed.gpuCount = 0;
                needed.gpuModel.clear();
            }
            auto admission = admitLocked(needed, entry.instance.preemptible, host, &id);
            if (!admission) {
                co_return Error::conflict("cannot start: " + shortageLocked(*type, host));
            }
            gpus = holdsItsGpus ? entry.instance.gpus : admission->gpus;
            evictions = evictLocked(*admission, id);
            victims = admission->victims;
            entry.pendingGpus = gpus;
        }
        entry.admitting = true;
        entry.pending = *next;
        changed = entry.instance;
        if (gpus) {
            changed.gpus = *gpus;
        }
        changed.state = *next;
        changed.reason.clear();
        if (*next != InstanceState::Stopping && *next != InstanceState::Deleting) {
            changed.ip.reset();
        }
        break;
    }
    evictions.push_back({changed.id, changed.state, changed.ip, changed.reason, gpus});
    auto write = [this, evictions] { return store_.updateInstances(evictions); };
    auto stored = co_await storePool_.run(std::move(write));
    settleEvictions(victims, id, stored.ok());
    {
        std::unique_lock lock(mutex_);
        auto& entry = byId_[id];
        entry.admitting = false;
        entry.pendingGpus.reset();
        if (!stored) {
            co_return stored.error();
        }
        entry.instance = changed;
    }
    schedule(id, Job::Converge);
    co_return changed;
}

bool InstanceService::macInUseLocked(const std::string& mac) const {
    return std::any_of(byId_.begin(), byId_.end(),
                       [&](const auto& item) { return drivers::macAddressFor(item.first) == mac; });
}

std::vector<ResourceCount> InstanceService::countByState() const {
    std::map<std::string, std::uint64_t> counts;
    for (auto state : {InstanceState::Creating, InstanceState::Starting, InstanceState::Running,
                       InstanceState::Stopping, InstanceState::Stopped, InstanceState::Deleting,
                       InstanceState::OutOfStock, InstanceState::Failed}) {
        counts[std::string(nameOf(state))] = 0;
    }
    // Hosts too: an operator alerts on gpuhost_resources{kind="host",state="unreachable"}.
    std::uint64_t reachable = 0;
    {
        std::shared_lock lock(mutex_);
        for (const auto& [id, entry] : byId_) {
            ++counts[std::string(nameOf(entry.instance.state))];
        }
        reachable = static_cast<std::uint64_t>(std::count_if(
            hosts_.begin(), hosts_.end(), [](const HostState& host) { return host.reachable; }));
    }
    std::vector<ResourceCount> samples;
    for (const auto& [state, count] : counts) {
        samples.push_back({"instance", state, count});
    }
    samples.push_back({"host", "reachable", reachable});
    samples.push_back({"host", "unreachable", hosts_.size() - reachable});
    return samples;
}

void InstanceService::schedule(const model::Uuid& id, Job job) {
    {
        std::unique_lock lock(mutex_);
        auto it = byId_.find(id);
        if (it == byId_.end() || stopping_.load()) {
            return;
        }
        auto& entry = it->second;
        (job == Job::Converge ? entry.converge : job == Job::Observe ? entry.observe : entry.address) = true;
        if (entry.running) {
            return;  // the runner picks it up
        }
        entry.running = true;
    }
    // Outside the lock: co_spawn may start the runner inline, and the runner takes it.
    asio::co_spawn(asio::make_strand(executor_), runJobs(id), asio::detached);
}

asio::awaitable<void> InstanceService::runJobs(model::Uuid id) {
    for (;;) {
        Job job{};
        {
            std::unique_lock lock(mutex_);
            auto it = byId_.find(id);
            if (it == byId_.end()) {
                co_return;
            }
            auto& entry = it->second;
            if (stopping_.load() || (!entry.converge && !entry.observe && !entry.address)) {
                entry.running = false;
                co_return;
            }
            job = entry.converge ? Job::Converge : entry.observe ? Job::Observe : Job::Address;
            (job == Job::Converge  ? entry.converge
             : job == Job::Observe ? entry.observe
                                   : entry.address) = false;
        }
        log::debug("instance job", {{"instance", id.str()}, {"job", std::to_string(static_cast<int>(job))}});
        try {
            if (job == Job::Converge) {
                co_await converge(id);
            } else if (job == Job::Observe) {
                co_await observe(id);
            } else {
                co_await refreshAddress(id);
            }
        } catch (const std::exception& e) {
            log::error("instance job failed", {{"instance", id.str()}, {"error", e.what()}});
        }
    }
}

std::optional<Instance> InstanceService::snapshot(const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end()) {
        return std::nullopt;
    }
    return it->second.instance;
}

}  // namespace gpuhost::agent

// InstanceService: admission of user instances, queries and actions.
#include "services/instance_service.hpp"

#include <algorithm>
#include <boost/asio/this_coro.hpp>

#include "log.hpp"

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

// userData that cannot take the agent's parts (gzip, MIME) is refused up front.
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

}  // namespace

InstanceService::InstanceService(InstanceTable& table, HostRegistry& hosts, const Catalog& catalog,
                                 InstanceStore& store, BlockingPool& storePool,
                                 InstanceController& controller, const InstanceOptions& options)
    : table_(table),
      hosts_(hosts),
      catalog_(catalog),
      store_(store),
      storePool_(storePool),
      controller_(controller),
      options_(options) {}

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
    return checkUserDataTakesParts(request);
}

Result<std::size_t> InstanceService::filesystemHost(const model::Uuid& project,
                                                    const std::vector<model::Uuid>& ids) const {
    std::size_t host = HostRegistry::kNoHost;
    for (const auto& id : ids) {
        auto found = filesystems_ != nullptr ? filesystems_->find(project, id) : std::nullopt;
        if (!found) {
            return Error{ErrorCode::NotFound, "filesystem " + id.str() + " not found", "filesystems"};
        }
        if (!found->available) {
            return Error{ErrorCode::Conflict, "filesystem " + id.str() + " is not available", "filesystems"};
        }
        auto at = hosts_.indexOf(found->host);
        if (at == HostRegistry::kNoHost || (host != HostRegistry::kNoHost && at != host)) {
            return Error::invalid("filesystems",
                                  "the filesystems live on different hosts; an instance can "
                                  "only attach filesystems of one host");
        }
        host = at;
    }
    return host;
}

// Before the first reconcile has read any host: ask each (on its own pool) now.
asio::awaitable<void> InstanceService::learnHosts() {
    if (hosts_.anyKnown()) {
        co_return;
    }
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        auto ask = [this, h]() -> Result<void> {
            (void)hosts_.refreshBlocking(h);  // an unreachable host is left out of placement
            return {};
        };
        // Its answer is in the registry; a host it could not read stays out of placement.
        [[maybe_unused]] auto asked = co_await hosts_.binding(h).pool->run(std::move(ask));
    }
}

model::Uuid InstanceService::freshIdLocked() const {
    // The NIC's MAC is derived from the id (24 bits of it): two instances on one network
    // must never share one, so draw again on the rare clash.
    auto id = model::Uuid::random();
    while (table_.macInUseLocked(drivers::macAddressFor(id))) {
        id = model::Uuid::random();
    }
    return id;
}

asio::awaitable<Result<Instance>> InstanceService::create(const model::Uuid& project,
                                                          model::CreateInstance request) {
    if (auto valid = checkAgainstCatalog(request); !valid) {
        co_return valid.error();
    }
    auto onlyHost = filesystemHost(project, request.filesystems);  // a filesystem lives on one host
    if (!onlyHost) {
        co_return onlyHost.error();
    }
    Instance instance = newInstance(project, std::move(request));
    const auto* type = catalog_.findInstanceType(instance.type);
    co_await learnHosts();
    std::vector<InstanceUpdate> evictions;
    std::vector<model::Uuid> victims;
    {
        auto locked = table_.lock();
        // Out-of-stock is final for the client, so a host that is only briefly unreachable
        // must not cause it: with no host reachable at all, ask the client to retry.
        if (!hosts_.anyUsable()) {
            co_return Error{
                ErrorCode::Unavailable, "no hypervisor host is reachable (libvirt down); retry", {}};
        }
        if (auto room = instanceRoomLocked(project, 1); !room) {
            co_return room.error();
        }
        if (table_.index().nameTaken(project, "", instance.name)) {
            co_return Error{ErrorCode::Conflict, "this project already has an instance with this name",
                            "name"};
        }
        instance.id = freshIdLocked();
        // Too little room is not an error: the instance is recorded out-of-stock with no
        // domain, as Atlas clients expect (they poll for it and delete); it never starts by itself.
        auto holdings = table_.holdingsLocked(catalog_, hosts_);
        std::vector<model::Uuid> candidateIds;
        auto candidates = table_.candidatesLocked(catalog_, hosts_, candidateIds);
        if (auto admission = hosts_.admit(*type, instance.preemptible, *onlyHost, holdings, candidates)) {
            instance.state = InstanceState::Creating;
            instance.host = hosts_.binding(admission->host).name;
            instance.gpus = admission->gpus;
            for (auto index : admission->victims) {
                victims.push_back(candidateIds[index]);
            }
            evictions = evictLocked(victims, instance.id);
        } else {
            instance.state = InstanceState::OutOfStock;
            instance.reason = hosts_.shortage(*type, *onlyHost, holdings);
        }
        // Counted against capacity and names while the insert is in flight, invisible to readers.
        auto& entry = table_.addLocked(instance, true);
        entry.admitting = true;
    }
    auto insert = [this, instance, evictions] { return store_.insertInstance(instance, evictions); };
    auto stored = co_await storePool_.run(std::move(insert));
    settleEvictions(victims, instance.id, stored.ok());
    {
        auto locked = table_.lock();
        if (!stored) {
            table_.eraseLocked(instance.id);
            co_return stored.error();
        }
        table_.index().commit(instance.id);
        table_.endChangeLocked(instance.id);
    }
    log::info("instance admitted", {{"instance", instance.id.str()},
                                    {"state", std::string(nameOf(instance.state))},
                                    {"host", instance.host},
                                    {"gpus", std::to_string(instance.gpus.size())}});
    if (instance.state == InstanceState::Creating) {
        controller_.schedule(instance.id, Converge);
    }
    co_return instance;
}

Result<void> InstanceService::instanceRoomLocked(const model::Uuid& project, std::size_t adding) const {
    const auto& quotas = options_.quotas;
    const auto& limits = quotas.of(project);
    if (table_.index().countOfOwner(project) + adding > limits.instances) {
        return model::quotaExceeded(quotas.keyOf(project, "instances"), limits.instances,
                                    "this project has as many instances as it may (out-of-stock ones and "
                                    "cluster members count)");
    }
    if (table_.index().size() + adding > quotas.region.instances) {
        return model::quotaExceeded("quotas.region.instances", quotas.region.instances,
                                    "this region has as many instances as it may hold");
    }
    return {};
}

std::size_t InstanceService::instanceCount(const model::Uuid& project) const {
    auto shared = table_.share();  // a read: the exclusive lock would count as a change
    return table_.index().countOfOwner(project);
}

Result<Instance> InstanceService::get(const model::Uuid& project, const model::Uuid& id) const {
    auto shared = table_.share();
    const auto* entry = table_.index().visible(project, id);
    if (entry == nullptr) {
        return Error::notFound("instance");
    }
    return visible(entry->instance, hosts_.troubles());
}

std::vector<Instance> InstanceService::list(const model::Uuid& project) const {
    std::vector<Instance> shown;
    auto shared = table_.share();
    auto entries = table_.index().ofOwner(project);  // creation order
    shown.reserve(entries.size());
    auto troubles = hosts_.troubles();
    for (const auto* entry : entries) {
        shown.push_back(visible(entry->instance, troubles));
    }
    return shown;
}

std::string InstanceService::troubleStamp() const {
    std::string stamp;
    for (const auto& trouble : hosts_.troubles()) {
        stamp += trouble ? "!" + *trouble : std::string();
        stamp += '\x1f';
    }
    return stamp;
}

asio::awaitable<Result<Instance>> InstanceService::act(const model::Uuid& project, const model::Uuid& id,
                                                       model::InstanceAction action) {
    Instance changed;
    std::vector<InstanceUpdate> evictions;
    std::vector<model::Uuid> victims;
    std::optional<std::vector<model::PciAddress>> gpus;
    std::optional<Result<Instance>> answer;  // set when there is nothing to write
    // Changes to one instance are made durable one at a time: wait for one in flight (a
    // job recording a state, another request) rather than answer 409 for it.
    auto admit = [&]() -> bool {
        auto* entry = table_.index().find(id);
        if (entry == nullptr || table_.index().isPending(id) || entry->instance.projectId != project) {
            answer = Error::notFound("instance");
            return false;
        }
        if (const auto& owner = entry->instance.owner) {
            answer = Error::conflict("instance " + entry->instance.name + " is a member of " +
                                     owner->clusterKind + " cluster " + owner->clusterName + " (" +
                                     owner->clusterId.str() + "): change it through its cluster");
            return false;
        }
        if (model::isRepeatedDelete(entry->instance.state, action)) {
            answer = entry->instance;
            return false;
        }
        auto next = model::applyAction(entry->instance.state, action);
        if (!next) {
            answer = next.error();
            return false;
        }
        if (action == model::InstanceAction::Start) {
            // Back on its own host (its disk is there), with GPUs taken again.
            const auto* type = catalog_.findInstanceType(entry->instance.type);
            auto host = hosts_.indexOf(entry->instance.host);
            if (type == nullptr || host == HostRegistry::kNoHost) {
                answer = Error::conflict("the instance's type or host is no longer configured");
                return false;
            }
            // An instance in error may still hold its GPUs (its domain may run with them):
            // it keeps those, and only CPU and memory are checked.
            bool holdsItsGpus = type->gpuCount > 0 && entry->instance.gpus.size() == type->gpuCount;
            auto needed = *type;
            if (holdsItsGpus) {
                needed.gpuCount = 0;
                needed.gpuModel.clear();
            }
            auto holdings = table_.holdingsLocked(catalog_, hosts_, &id);
            std::vector<model::Uuid> candidateIds;
            auto candidates = table_.candidatesLocked(catalog_, hosts_, candidateIds);
            auto admission = hosts_.admit(needed, entry->instance.preemptible, host, holdings, candidates);
            if (!admission) {
                answer = Error::conflict("cannot start: " + hosts_.shortage(*type, host, holdings));
                return false;
            }
            gpus = holdsItsGpus ? entry->instance.gpus : admission->gpus;
            for (auto index : admission->victims) {
                victims.push_back(candidateIds[index]);
            }
            evictions = evictLocked(victims, id);
            entry->pendingGpus = gpus;
        }
        entry->admitting = true;
        entry->pending = *next;
        changed = entry->instance;
        if (gpus) {
            changed.gpus = *gpus;
        }
        changed.state = *next;
        changed.reason.clear();
        if (*next != InstanceState::Stopping && *next != InstanceState::Deleting) {
            changed.ip.reset();
        }
        return true;
    };
    if (!co_await table_.whenSettled(id, admit)) {
        co_return std::move(*answer);
    }
    evictions.push_back({changed.id, changed.state, changed.ip, changed.reason, gpus});
    auto write = [this, evictions] { return store_.updateInstances(evictions); };
    auto stored = co_await storePool_.run(std::move(write));
    settleEvictions(victims, id, stored.ok());
    {
        auto locked = table_.lock();
        auto* entry = table_.index().find(id);
        if (entry != nullptr && stored) {
            entry->instance = changed;
        }
        table_.endChangeLocked(id);
        if (!stored) {
            co_return stored.error();
        }
    }
    controller_.schedule(id, Converge);
    co_return changed;
}

std::vector<InstanceUpdate> InstanceService::evictLocked(const std::vector<model::Uuid>& victims,
                                                         const model::Uuid& by) {
    std::vector<InstanceUpdate> updates;
    for (const auto& victim : victims) {
        auto* entry = table_.index().find(victim);
        entry->admitting = true;
        entry->pending = InstanceState::Stopping;
        entry->pendingGpus = std::vector<model::PciAddress>{};  // they pass to `by` now
        updates.push_back({victim, InstanceState::Stopping, entry->instance.ip,
                           "preempted by non-preemptible instance " + by.str(),
                           std::vector<model::PciAddress>{}});
    }
    return updates;
}

void InstanceService::settleEvictions(const std::vector<model::Uuid>& victims, const model::Uuid& by,
                                      bool stored) {
    {
        auto locked = table_.lock();
        for (const auto& victim : victims) {
            auto* entry = table_.index().find(victim);
            if (entry == nullptr) {
                continue;
            }
            if (stored) {
                entry->instance.state = InstanceState::Stopping;
                entry->instance.gpus.clear();
                entry->instance.reason = "preempted by non-preemptible instance " + by.str();
            }
            table_.endChangeLocked(victim);
        }
    }
    for (const auto& victim : victims) {
        if (stored) {
            log::info("instance preempted", {{"instance", victim.str()}, {"by", by.str()}});
            controller_.schedule(victim, Converge);
        }
    }
}

Result<std::vector<TypeCapacity>> InstanceService::capacity() const {
    auto shared = table_.share();
    return hosts_.capacity(catalog_.instanceTypes(), table_.holdingsLocked(catalog_, hosts_));
}

std::vector<ResourceCount> InstanceService::countByState() const {
    std::map<std::string, std::uint64_t> counts;
    for (auto state : {InstanceState::Creating, InstanceState::Starting, InstanceState::Running,
                       InstanceState::Stopping, InstanceState::Stopped, InstanceState::Deleting,
                       InstanceState::OutOfStock, InstanceState::Failed}) {
        counts[std::string(nameOf(state))] = 0;
    }
    {
        auto shared = table_.share();
        for (const auto& [id, slot] : table_.index().all()) {
            ++counts[std::string(nameOf(slot.entry.instance.state))];
        }
    }
    std::vector<ResourceCount> samples;
    for (const auto& [state, count] : counts) {
        samples.push_back({"instance", state, count});
    }
    // Hosts too: an operator alerts on gpuhost_resources{kind="host",state="unreachable"}.
    auto reachable = hosts_.reachableCount();
    samples.push_back({"host", "reachable", reachable});
    samples.push_back({"host", "unreachable", hosts_.size() - reachable});
    return samples;
}

// What the API shows: an instance on a host that cannot be reached is in error until
// the host is back (the stored state is kept; reconcile then adopts what libvirt says).
Instance InstanceService::visible(const Instance& instance,
                                  const std::vector<std::optional<std::string>>& troubles) const {
    if (instance.host.empty() || instance.state == InstanceState::OutOfStock) {
        return instance;
    }
    auto h = hosts_.indexOf(instance.host);
    if (h == HostRegistry::kNoHost) {
        Instance shown = instance;
        shown.state = InstanceState::Failed;
        shown.reason = "host " + instance.host + " is not in the agent's configuration";
        return shown;
    }
    const auto& trouble = troubles[h];
    if (!trouble) {
        return instance;
    }
    Instance shown = instance;
    shown.state = InstanceState::Failed;
    shown.reason = "host " + instance.host + " is unreachable" + (trouble->empty() ? "" : ": " + *trouble);
    return shown;
}

}  // namespace gpuhost::agent

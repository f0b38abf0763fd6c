#include "services/cluster_service.hpp"

#include <algorithm>
#include <map>

#include "log.hpp"
#include "model/validation.hpp"
#include "services/cluster_members.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Cluster;
using model::ClusterKind;
using model::ClusterUser;
using model::ClusterView;
using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

constexpr std::size_t kMaxHostname = 63;

std::string poolField(std::size_t i) {
    return "nodePools[" + std::to_string(i) + "]";
}

// The smallest type without GPUs: a controller schedules, it does not compute.
std::string smallestCpuType(const Catalog& catalog) {
    const model::InstanceType* best = nullptr;
    for (const auto& type : catalog.instanceTypes()) {
        if (type.gpuCount == 0 && (best == nullptr || type.memoryBytes < best->memoryBytes ||
                                   (type.memoryBytes == best->memoryBytes && type.cpu < best->cpu))) {
            best = &type;
        }
    }
    return best == nullptr ? std::string() : best->name;
}

}  // namespace

ClusterService::ClusterService(ClusterTable& table, ClusterController& controller, ClusterStore& store,
                               BlockingPool& storePool, const Catalog& catalog,
                               const InstanceService& instances, const ClusterOptions& options)
    : table_(table),
      controller_(controller),
      store_(store),
      storePool_(storePool),
      catalog_(catalog),
      instances_(instances),
      options_(options) {}

bool ClusterService::offers(ClusterKind kind) const {
    return controller_.driver(kind) != nullptr;
}

Result<void> ClusterService::checkSpec(const Cluster& cluster, const ClusterKindDriver& kind) const {
    if (auto valid = model::validateResourceName(cluster.name, "name"); !valid) {
        return valid;
    }
    if (cluster.pools.size() > model::kMaxClusterPools) {
        return Error::invalid("nodePools", "at most " + std::to_string(model::kMaxClusterPools) + " pools");
    }
    unsigned total = 0;
    for (std::size_t i = 0; i < cluster.pools.size(); ++i) {
        const auto& pool = cluster.pools[i];
        if (auto valid = model::validatePool(pool, poolField(i)); !valid) {
            return valid;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (cluster.pools[j].name == pool.name) {
                return Error::invalid(poolField(i) + ".name", "another pool has this name");
            }
        }
        if (catalog_.findInstanceType(pool.type) == nullptr) {
            return Error::invalid(poolField(i) + ".type", "unknown instance type " + pool.type);
        }
        if (pool.count > options_.maxNodesPerPool) {
            return Error::invalid(poolField(i) + ".count",
                                  "at most " + std::to_string(options_.maxNodesPerPool) + " nodes per pool");
        }
        total += pool.count;
    }
    auto roles = kind.roles(cluster);
    for (const auto& role : roles) {
        auto field =
            model::isPrimaryRole(role.role) ? std::string("controllerType") : role.role + "Nodes.type";
        if (catalog_.findInstanceType(role.type) == nullptr) {
            return Error::invalid(field, role.type.empty() ? "no default type is configured"
                                                           : "unknown instance type " + role.type);
        }
        total += role.count;
    }
    if (total > options_.maxNodesPerCluster) {
        return Error::invalid("nodePools", "at most " + std::to_string(options_.maxNodesPerCluster) +
                                               " VMs per cluster (controller and login nodes included)");
    }
    if (longestMemberName(cluster, roles, options_.maxNodesPerPool) > kMaxHostname) {
        return Error::invalid("name",
                              "with the pool names, member hostnames (<cluster>-<pool>-<index>) would "
                              "exceed 63 characters: choose shorter names");
    }
    return kind.validate(cluster);
}

Result<void> ClusterService::checkInstanceRoom(const model::Uuid& project, const Cluster* before,
                                               const Cluster& after, const ClusterKindDriver& kind,
                                               std::size_t used) const {
    auto vms = [&](const Cluster& cluster) {
        std::uint64_t total = 0;
        for (const auto& pool : cluster.pools) {
            total += pool.count;
        }
        for (const auto& role : kind.roles(cluster)) {
            total += role.count;
        }
        return total;
    };
    auto now = before != nullptr ? vms(*before) : 0;
    auto wanted = vms(after);
    const auto& limits = options_.quotas.of(project);
    if (wanted > now && used + (wanted - now) > limits.instances) {
        auto error = model::quotaExceeded(options_.quotas.keyOf(project, "instances"), limits.instances,
                                          "the cluster's VMs would take the project past its instances "
                                          "(" +
                                              std::to_string(used) + " now, " + std::to_string(wanted - now) +
                                              " more asked for)");
        return error;
    }
    return {};
}

asio::awaitable<Result<ClusterView>> ClusterService::create(const model::Uuid& project, ClusterKind kindName,
                                                            CreateCluster request) {
    auto* kind = controller_.driver(kindName);
    if (kind == nullptr) {
        co_return Error{ErrorCode::NotImplemented,
                        std::string(model::nameOf(kindName)) + " clusters are not offered here",
                        {}};
    }
    Cluster cluster;
    cluster.id = model::Uuid::random();
    cluster.projectId = project;
    cluster.kind = kindName;
    cluster.name = std::move(request.name);
    cluster.version = request.version.empty() ? kind->defaultVersion() : std::move(request.version);
    cluster.controllerType = request.controllerType.empty()
                                 ? (options_.defaultControllerType.empty() ? smallestCpuType(catalog_)
                                                                           : options_.defaultControllerType)
                                 : std::move(request.controllerType);
    cluster.loginCount = request.loginCount;
    cluster.loginType = request.loginType.empty() ? cluster.controllerType : std::move(request.loginType);
    cluster.pools = std::move(request.pools);
    cluster.network = std::move(request.network);
    kind->applyDefaults(cluster);
    cluster.createdAt =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    if (auto valid = checkSpec(cluster, *kind); !valid) {
        co_return valid.error();
    }
    if (auto room = checkInstanceRoom(project, nullptr, cluster, *kind, instances_.instanceCount(project));
        !room) {
        co_return room.error();
    }
    auto secret = kind->newSecret();
    if (!secret) {
        co_return secret.error();
    }
    auto kindState = kind->newKindState(cluster);
    if (!kindState) {
        co_return kindState.error();
    }
    {
        auto locked = table_.lock();
        const auto& limits = options_.quotas.of(project);
        if (table_.index().countOfOwner(project) >= limits.clusters) {
            co_return model::quotaExceeded(options_.quotas.keyOf(project, "clusters"), limits.clusters,
                                           "this project has as many clusters as it may");
        }
        if (table_.index().size() >= options_.quotas.region.clusters) {
            co_return model::quotaExceeded("quotas.region.clusters", options_.quotas.region.clusters,
                                           "this region has as many clusters as it may hold");
        }
        if (table_.index().nameTaken(project, std::string(model::nameOf(kindName)), cluster.name)) {
            co_return Error{ErrorCode::Conflict, "a cluster named " + cluster.name + " exists", "name"};
        }
        table_.index().add(ClusterEntry{cluster, *secret, *kindState, {}}, true);
    }
    auto insert = [this, cluster, key = *secret, progress = *kindState] {
        return store_.insertCluster(cluster, key, progress);
    };
    auto stored = co_await storePool_.run(std::move(insert));
    {
        auto locked = table_.lock();
        if (!stored) {
            table_.index().erase(cluster.id);
        } else {
            table_.index().commit(cluster.id);
        }
    }
    if (!stored) {
        co_return stored.error();
    }
    log::info("cluster created", {{"cluster", cluster.id.str()},
                                  {"kind", std::string(model::nameOf(kindName))},
                                  {"name", cluster.name}});
    controller_.schedule(cluster.id, Members | Bootstrap | Poll);
    co_return viewNow(cluster.id);
}

Result<ClusterEntry> ClusterService::visible(const model::Uuid& project, ClusterKind kind,
                                             const model::Uuid& id) const {
    auto locked = table_.lock();
    const auto* entry = table_.index().visible(project, id);
    if (entry == nullptr || entry->cluster.kind != kind) {
        return Error::notFound("cluster");
    }
    return *entry;
}

Result<ClusterView> ClusterService::viewNow(const model::Uuid& id) const {
    auto state = controller_.state(id);
    if (!state) {
        return Error::notFound("cluster");
    }
    auto* kind = controller_.driver(state->entry.cluster.kind);
    if (kind == nullptr) {
        return Error::notFound("cluster");
    }
    return viewOf(*state, *kind);
}

Result<ClusterView> ClusterService::get(const model::Uuid& project, ClusterKind kind,
                                        const model::Uuid& id) const {
    if (auto entry = visible(project, kind, id); !entry) {
        return entry.error();
    }
    return viewNow(id);
}

std::vector<ClusterView> ClusterService::list(const model::Uuid& project, ClusterKind kind) const {
    std::vector<model::Uuid> ids;
    {
        auto locked = table_.lock();
        for (const auto* entry : table_.index().ofOwner(project)) {
            if (entry->cluster.kind == kind) {
                ids.push_back(entry->cluster.id);
            }
        }
    }
    std::vector<ClusterView> views;
    for (const auto& id : ids) {
        if (auto view = viewNow(id)) {
            views.push_back(std::move(*view));
        }
    }
    return views;
}

asio::awaitable<Result<Cluster>> ClusterService::change(const model::Uuid& project, ClusterKind kind,
                                                        const model::Uuid& id,
                                                        std::function<Result<void>(Cluster&)> edit,
                                                        unsigned jobs) {
    Cluster updated;
    {
        auto locked = table_.lock();
        const auto* entry = table_.index().visible(project, id);
        if (entry == nullptr || entry->cluster.kind != kind) {
            co_return Error::notFound("cluster");
        }
        if (controller_.driver(kind) == nullptr) {
            co_return Error{model::ErrorCode::Unavailable,
                            std::string(model::nameOf(kind)) + " clusters are not offered here any more",
                            {}};
        }
        if (changing_.contains(id)) {
            co_return Error::conflict("another change of this cluster is being saved; retry");
        }
        updated = entry->cluster;
        if (auto edited = edit(updated); !edited) {
            co_return edited.error();
        }
        changing_.insert(id);
    }
    auto save = [this, updated] { return store_.updateCluster(updated); };
    auto stored = co_await storePool_.run(std::move(save));
    {
        auto locked = table_.lock();
        changing_.erase(id);
        if (stored) {
            if (auto* entry = table_.index().find(id)) {
                entry->cluster = updated;
            }
        }
    }
    if (!stored) {
        co_return stored.error();
    }
    controller_.schedule(id, jobs);
    co_return updated;
}

asio::awaitable<Result<void>> ClusterService::remove(const model::Uuid& project, ClusterKind kind,
                                                     const model::Uuid& id) {
    auto changed = co_await change(
        project, kind, id,
        [](Cluster& cluster) -> Result<void> {
            cluster.deleting = true;
            return {};
        },
        Members);
    if (!changed) {
        co_return changed.error();
    }
    log::info("cluster deleting", {{"cluster", id.str()}});
    co_return Result<void>{};
}

std::vector<ResourceCount> ClusterService::countByPhase() const {
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
    for (const auto& id : table_.ids()) {
        if (auto view = viewNow(id)) {
            auto phase = std::string(model::nameOf(view->status.phase));
            std::transform(phase.begin(), phase.end(), phase.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            ++counts[{std::string(model::nameOf(view->cluster.kind)) + "_cluster", phase}];
        }
    }
    std::vector<ResourceCount> samples;
    for (const auto& [key, count] : counts) {
        samples.push_back({key.first, key.second, count});
    }
    return samples;
}

}  // namespace gpuhost::agent

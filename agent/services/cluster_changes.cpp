// ClusterService: node pools and users, each a change of the stored spec.
#include <algorithm>

#include "services/cluster_service.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Cluster;
using model::ClusterKind;
using model::ClusterUser;
using model::ClusterUserView;
using model::ClusterView;
using model::Error;
using model::Result;

namespace {

Result<void> notDeleting(const Cluster& cluster) {
    if (cluster.deleting) {
        return Error::conflict("the cluster is being deleted");
    }
    return {};
}

}  // namespace

asio::awaitable<Result<ClusterView>> ClusterService::upgrade(const model::Uuid& project, ClusterKind kind,
                                                             const model::Uuid& id, std::string version) {
    auto* driver = controller_.driver(kind);
    if (version.starts_with('v')) {
        version.erase(0, 1);  // "v1.32.5" names the same release as "1.32.5", which is what is stored
    }
    bool retry = false;
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            // change() holds the table lock while it edits: the entry is read as it stands.
            const auto* before = table_.index().find(id);
            if (before == nullptr) {
                return Error::notFound("cluster");
            }
            cluster.version = version;
            if (auto allowed = driver->validateChange(*before, cluster); !allowed) {
                return allowed;
            }
            // Asking again for the version a stopped roll was moving to retries the failed node.
            retry = version == before->cluster.version && driver->upgradeStopped(*before);
            cluster.rollRetries += retry ? 1 : 0;
            return driver->validate(cluster);
        },
        Bootstrap | Poll);
    if (!changed) {
        co_return changed.error();
    }
    if (retry) {
        // Shown at once; the roll's next pass (scheduled by change()) says where it stands.
        table_.updateProgress(id, [&](ClusterProgress& p) {
            p.failed = false;
            p.problem.clear();
            p.step = "retrying the upgrade to v" + version;
        });
    }
    co_return viewNow(id);
}

Result<std::string> ClusterService::clientConfig(const model::Uuid& project, ClusterKind kind,
                                                 const model::Uuid& id) const {
    if (auto entry = visible(project, kind, id); !entry) {
        return entry.error();
    }
    auto state = controller_.state(id);
    auto* driver = controller_.driver(kind);
    if (!state || driver == nullptr) {
        return Error::notFound("cluster");
    }
    if (state->entry.cluster.deleting) {
        return Error::conflict("the cluster is being deleted");
    }
    return driver->clientConfig(*state);
}

asio::awaitable<Result<ClusterView>> ClusterService::addPool(const model::Uuid& project, ClusterKind kind,
                                                             const model::Uuid& id, model::ClusterPool pool) {
    auto* driver = controller_.driver(kind);
    auto used = instances_.instanceCount(project);
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            auto before = cluster;
            if (cluster.findPool(pool.name) != nullptr) {
                return Error{model::ErrorCode::Conflict, "the cluster has a pool named " + pool.name, "name"};
            }
            cluster.pools.push_back(pool);
            auto checked = checkSpec(cluster, *driver);
            if (!checked) {
                // Name the field of this request, not of the whole spec.
                auto error = checked.error();
                auto prefix = "nodePools[" + std::to_string(cluster.pools.size() - 1) + "].";
                if (error.field.starts_with(prefix)) {
                    error.field = error.field.substr(prefix.size());
                }
                return error;
            }
            return checkInstanceRoom(project, &before, cluster, *driver, used);
        },
        Members | Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return viewNow(id);
}

asio::awaitable<Result<ClusterView>> ClusterService::scalePool(const model::Uuid& project, ClusterKind kind,
                                                               const model::Uuid& id, std::string pool,
                                                               unsigned count) {
    auto* driver = controller_.driver(kind);
    auto used = instances_.instanceCount(project);
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            auto before = cluster;
            auto it = std::find_if(cluster.pools.begin(), cluster.pools.end(),
                                   [&](const model::ClusterPool& p) { return p.name == pool; });
            if (it == cluster.pools.end()) {
                return Error::notFound("node pool");
            }
            it->count = count;
            auto checked = checkSpec(cluster, *driver);
            if (!checked) {
                auto error = checked.error();
                error.field = "count";
                return error;
            }
            return checkInstanceRoom(project, &before, cluster, *driver, used);
        },
        Members | Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return viewNow(id);
}

asio::awaitable<Result<void>> ClusterService::removePool(const model::Uuid& project, ClusterKind kind,
                                                         const model::Uuid& id, std::string pool) {
    auto* driver = controller_.driver(kind);
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            auto it = std::find_if(cluster.pools.begin(), cluster.pools.end(),
                                   [&](const model::ClusterPool& p) { return p.name == pool; });
            if (it == cluster.pools.end()) {
                return Error::notFound("node pool");
            }
            cluster.pools.erase(it);
            if (auto checked = checkSpec(cluster, *driver); !checked) {
                return Error::conflict(checked.error().message + "; delete the cluster instead");
            }
            return {};
        },
        Members | Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return Result<void>{};
}

ClusterUserView ClusterService::userView(const ClusterEntry& entry, const ClusterUser& user) const {
    // Applied: every member (but those leaving) runs and has this very spec of the user. A
    // member still booting has not got it yet, whatever its first boot will bring.
    auto members = instances_.members(entry.cluster.id);
    bool applied = !members.empty();
    for (const auto& member : members) {
        if (member.state == model::InstanceState::Deleting) {
            continue;
        }
        if (member.state != model::InstanceState::Running) {
            applied = false;
            break;
        }
        auto on = entry.progress.usersOn.find(member.id);
        if (on == entry.progress.usersOn.end()) {
            applied = false;
            break;
        }
        auto found = on->second.find(user.username);
        applied = applied && found != on->second.end() && found->second == user;
    }
    return ClusterUserView{user, applied};
}

Result<std::vector<ClusterUserView>> ClusterService::users(const model::Uuid& project, ClusterKind kind,
                                                           const model::Uuid& id) const {
    auto entry = visible(project, kind, id);
    if (!entry) {
        return entry.error();
    }
    std::vector<ClusterUserView> views;
    for (const auto& user : entry->cluster.users) {
        views.push_back(userView(*entry, user));
    }
    return views;
}

Result<ClusterUserView> ClusterService::user(const model::Uuid& project, ClusterKind kind,
                                             const model::Uuid& id, const std::string& username) const {
    auto entry = visible(project, kind, id);
    if (!entry) {
        return entry.error();
    }
    const auto* found = entry->cluster.findUser(username);
    if (found == nullptr) {
        return Error::notFound("user");
    }
    return userView(*entry, *found);
}

asio::awaitable<Result<ClusterUserView>> ClusterService::addUser(const model::Uuid& project, ClusterKind kind,
                                                                 const model::Uuid& id, ClusterUser user) {
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            if (cluster.findUser(user.username) != nullptr) {
                return Error{model::ErrorCode::Conflict, "the cluster has a user named " + user.username,
                             "username"};
            }
            const auto& limits = options_.quotas.of(project);
            if (cluster.users.size() >= limits.clusterUsers) {
                return model::quotaExceeded(options_.quotas.keyOf(project, "cluster_users"),
                                            limits.clusterUsers, "the cluster has as many users as it may");
            }
            if (cluster.users.size() >= model::kMaxClusterUsers) {
                return Error::invalid(
                    "username", "at most " + std::to_string(model::kMaxClusterUsers) + " users per cluster");
            }
            user.uid = cluster.nextUid();
            cluster.users.push_back(user);
            return {};
        },
        Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return this->user(project, kind, id, user.username);
}

asio::awaitable<Result<ClusterUserView>> ClusterService::updateUser(const model::Uuid& project,
                                                                    ClusterKind kind, const model::Uuid& id,
                                                                    std::string username,
                                                                    model::ClusterUserUpdate update) {
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            if (auto ok = notDeleting(cluster); !ok) {
                return ok;
            }
            auto it = std::find_if(cluster.users.begin(), cluster.users.end(),
                                   [&](const ClusterUser& u) { return u.username == username; });
            if (it == cluster.users.end()) {
                return Error::notFound("user");
            }
            if (update.sshKeys) {
                it->sshKeys = *update.sshKeys;
            }
            if (update.sudo) {
                it->sudo = *update.sudo;
            }
            return {};
        },
        Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return user(project, kind, id, username);
}

asio::awaitable<Result<void>> ClusterService::removeUser(const model::Uuid& project, ClusterKind kind,
                                                         const model::Uuid& id, std::string username) {
    auto changed = co_await change(
        project, kind, id,
        [&](Cluster& cluster) -> Result<void> {
            auto it = std::find_if(cluster.users.begin(), cluster.users.end(),
                                   [&](const ClusterUser& u) { return u.username == username; });
            if (it == cluster.users.end()) {
                return Error::notFound("user");
            }
            cluster.users.erase(it);
            return {};
        },
        Bootstrap);
    if (!changed) {
        co_return changed.error();
    }
    co_return Result<void>{};
}

}  // namespace gpuhost::agent

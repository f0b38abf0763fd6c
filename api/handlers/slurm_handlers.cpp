// The Slurm routes: /slurm/clusters, their node pools and their users. Every call names
// ClusterKind::Slurm, so a Kubernetes cluster is a 404 here, as another project's is.
#include "handlers/handlers.hpp"
#include "json_mapping.hpp"
#include "model/posix_user.hpp"
#include "slurm_mapping.hpp"

namespace gpuhost::api::handlers {

using model::Error;
using model::Result;
using nlohmann::json;

namespace {

constexpr auto kSlurm = model::ClusterKind::Slurm;

// A daemon built without the cluster service answers 501, as a route without a handler does.
Result<agent::ClusterApi*> service(ApiContext& ctx) {
    if (ctx.clusters == nullptr) {
        return Error{model::ErrorCode::NotImplemented, "not implemented", {}};
    }
    return ctx.clusters;
}

// The cluster service and the {id} of the route, or the error that ends the call.
struct Target {
    agent::ClusterApi* clusters;
    model::Uuid id;
};

Result<Target> target(ApiContext& ctx, const Call& call) {
    auto clusters = service(ctx);
    if (!clusters) {
        return clusters.error();
    }
    auto id = pathId(call);
    if (!id) {
        return id.error();
    }
    // Another project's cluster or an unknown one: 404 before anything else of the request is
    // looked at, so the answer never depends on whether the id exists elsewhere.
    if (auto found = (*clusters)->get(*call.project, model::ClusterKind::Slurm, *id); !found) {
        return found.error();
    }
    return Target{*clusters, *id};
}

Result<std::string> pathPool(const Call& call) {
    const std::string& pool = call.params.at("pool");
    if (auto valid = model::validateResourceName(pool, "pool"); !valid) {
        return valid.error();
    }
    return pool;
}

Result<std::string> pathUsername(const Call& call) {
    const std::string& username = call.params.at("username");
    if (auto valid = model::validatePosixUsername(username, "username"); !valid) {
        return valid.error();
    }
    return username;
}

Result<Reply> poolReply(http::status status, const model::ClusterView& view, std::string_view name) {
    for (const auto& pool : view.pools) {
        if (pool.pool.name == name) {
            return Reply{status, dump(slurmPoolJson(pool, view.cluster.id))};
        }
    }
    return Error::notFound("node pool");
}

Result<Reply> userReply(http::status status, const Result<model::ClusterUserView>& user) {
    if (!user) {
        return user.error();
    }
    return Reply{status, dump(slurmUserJson(*user))};
}

Reply noContent() {
    return Reply{http::status::no_content, {}, {}};
}

}  // namespace

Awaitable createSlurmCluster(ApiContext& ctx, const Call& call) {
    auto clusters = service(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto request = parseCreateSlurmCluster(call.body);
    if (!request) {
        co_return request.error();
    }
    auto view = co_await (*clusters)->create(*call.project, kSlurm, std::move(*request));
    if (!view) {
        co_return view.error();
    }
    co_return Reply{http::status::created, dump(slurmClusterJson(*view))};
}

Awaitable listSlurmClusters(ApiContext& ctx, const Call& call) {
    auto clusters = service(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto list = json::array();
    for (const auto& view : (*clusters)->list(*call.project, kSlurm)) {
        list.push_back(slurmClusterJson(view));
    }
    co_return Reply{http::status::ok, dump(list)};
}

Awaitable getSlurmCluster(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto view = at->clusters->get(*call.project, kSlurm, at->id);
    if (!view) {
        co_return view.error();
    }
    co_return Reply{http::status::ok, dump(slurmClusterJson(*view))};
}

Awaitable deleteSlurmCluster(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto removed = co_await at->clusters->remove(*call.project, kSlurm, at->id);
    if (!removed) {
        co_return removed.error();
    }
    co_return noContent();
}

Awaitable listSlurmClusterPools(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto view = at->clusters->get(*call.project, kSlurm, at->id);
    if (!view) {
        co_return view.error();
    }
    auto list = json::array();
    for (const auto& pool : view->pools) {
        list.push_back(slurmPoolJson(pool, view->cluster.id));
    }
    co_return Reply{http::status::ok, dump(list)};
}

Awaitable getSlurmClusterPool(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto pool = pathPool(call);
    if (!pool) {
        co_return pool.error();
    }
    auto view = at->clusters->get(*call.project, kSlurm, at->id);
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::ok, *view, *pool);
}

Awaitable listSlurmPools(ApiContext& ctx, const Call& call) {
    auto clusters = service(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto list = json::array();
    for (const auto& view : (*clusters)->list(*call.project, kSlurm)) {
        for (const auto& pool : view.pools) {
            list.push_back(slurmPoolJson(pool, view.cluster.id));
        }
    }
    co_return Reply{http::status::ok, dump(list)};
}

Awaitable addSlurmPool(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto pool = parseSlurmPool(call.body);
    if (!pool) {
        co_return pool.error();
    }
    std::string name = pool->name;
    auto view = co_await at->clusters->addPool(*call.project, kSlurm, at->id, std::move(*pool));
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::created, *view, name);
}

Awaitable scaleSlurmPool(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto pool = pathPool(call);
    if (!pool) {
        co_return pool.error();
    }
    auto count = parsePoolScale(call.body);
    if (!count) {
        co_return count.error();
    }
    auto view = co_await at->clusters->scalePool(*call.project, kSlurm, at->id, *pool, *count);
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::accepted, *view, *pool);
}

Awaitable removeSlurmPool(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto pool = pathPool(call);
    if (!pool) {
        co_return pool.error();
    }
    auto removed = co_await at->clusters->removePool(*call.project, kSlurm, at->id, *pool);
    if (!removed) {
        co_return removed.error();
    }
    co_return noContent();
}

Awaitable listSlurmUsers(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto users = at->clusters->users(*call.project, kSlurm, at->id);
    if (!users) {
        co_return users.error();
    }
    auto list = json::array();
    for (const auto& user : *users) {
        list.push_back(slurmUserJson(user));
    }
    co_return Reply{http::status::ok, dump(list)};
}

Awaitable addSlurmUser(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto user = parseSlurmUser(call.body);
    if (!user) {
        co_return user.error();
    }
    co_return userReply(http::status::created,
                        co_await at->clusters->addUser(*call.project, kSlurm, at->id, std::move(*user)));
}

Awaitable getSlurmUser(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto username = pathUsername(call);
    if (!username) {
        co_return username.error();
    }
    co_return userReply(http::status::ok, at->clusters->user(*call.project, kSlurm, at->id, *username));
}

Awaitable updateSlurmUser(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto username = pathUsername(call);
    if (!username) {
        co_return username.error();
    }
    auto update = parseSlurmUserUpdate(call.body);
    if (!update) {
        co_return update.error();
    }
    co_return userReply(http::status::ok, co_await at->clusters->updateUser(*call.project, kSlurm, at->id,
                                                                            *username, std::move(*update)));
}

Awaitable removeSlurmUser(ApiContext& ctx, const Call& call) {
    auto at = target(ctx, call);
    if (!at) {
        co_return at.error();
    }
    auto username = pathUsername(call);
    if (!username) {
        co_return username.error();
    }
    auto removed = co_await at->clusters->removeUser(*call.project, kSlurm, at->id, *username);
    if (!removed) {
        co_return removed.error();
    }
    co_return noContent();
}

}  // namespace gpuhost::api::handlers

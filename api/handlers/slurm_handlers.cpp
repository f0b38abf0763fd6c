// The Slurm routes: /slurm/clusters, their node pools and their users. Every call names
// ClusterKind::Slurm, so a Kubernetes cluster is a 404 here, as another project's is.
#include "handlers/cluster_handlers.hpp"
#include "handlers/handlers.hpp"
#include "handlers/list_reply.hpp"
#include "json_mapping.hpp"
#include "model/posix_user.hpp"
#include "slurm_mapping.hpp"

namespace gpuhost::api::handlers {

using model::Result;
using nlohmann::json;

namespace {

constexpr auto kSlurm = model::ClusterKind::Slurm;

const ClusterRoutes kRoutes{kSlurm,           parseCreateSlurmCluster, parseSlurmPool,
                            slurmClusterJson, slurmPoolJson,           nullptr};

Result<ClusterTarget> target(ApiContext& ctx, const Call& call) {
    return clusterTarget(ctx, call, kSlurm);
}

Result<std::string> pathUsername(const Call& call) {
    const std::string& username = call.params.at("username");
    if (auto valid = model::validatePosixUsername(username, "username"); !valid) {
        return valid.error();
    }
    return username;
}

Result<Reply> userReply(http::status status, const Result<model::ClusterUserView>& user) {
    if (!user) {
        return user.error();
    }
    return Reply{status, dump(slurmUserJson(*user))};
}

}  // namespace

Awaitable createSlurmCluster(ApiContext& ctx, const Call& call) {
    return createCluster(ctx, call, kRoutes);
}

Awaitable listSlurmClusters(ApiContext& ctx, const Call& call) {
    return listClusters(ctx, call, kRoutes);
}

Awaitable getSlurmCluster(ApiContext& ctx, const Call& call) {
    return getCluster(ctx, call, kRoutes);
}

Awaitable deleteSlurmCluster(ApiContext& ctx, const Call& call) {
    return deleteCluster(ctx, call, kRoutes);
}

Awaitable listSlurmClusterPools(ApiContext& ctx, const Call& call) {
    return listClusterPools(ctx, call, kRoutes);
}

Awaitable getSlurmClusterPool(ApiContext& ctx, const Call& call) {
    return getClusterPool(ctx, call, kRoutes);
}

Awaitable listSlurmPools(ApiContext& ctx, const Call& call) {
    return listPools(ctx, call, kRoutes);
}

Awaitable addSlurmPool(ApiContext& ctx, const Call& call) {
    return addPool(ctx, call, kRoutes);
}

Awaitable scaleSlurmPool(ApiContext& ctx, const Call& call) {
    return scalePool(ctx, call, kRoutes);
}

Awaitable removeSlurmPool(ApiContext& ctx, const Call& call) {
    return removePool(ctx, call, kRoutes);
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
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    // Users have no creation time; their names are unique within the cluster.
    auto key = [](const model::ClusterUserView& view) { return PageKey{0, view.user.username}; };
    co_return listReply(renderPage(std::move(*users), *page, key, slurmUserJson));
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

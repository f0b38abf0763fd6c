// Cluster and node-pool routes for any kind: every call names the kind of its routes, so a
// cluster of another kind is a 404 there, as another project's is.
#include "handlers/cluster_handlers.hpp"
#include "handlers/list_reply.hpp"

#include "cluster_mapping.hpp"
#include "json_mapping.hpp"

namespace gpuhost::api::handlers {

using model::Error;
using model::Result;
using nlohmann::json;

namespace {

Result<Reply> poolReply(http::status status, const model::ClusterView& view, std::string_view name,
                        const ClusterRoutes& routes) {
    for (const auto& pool : view.pools) {
        if (pool.pool.name == name) {
            return Reply{status, dump(routes.poolJson(pool, view.cluster.id))};
        }
    }
    return Error::notFound("node pool");
}

// A pool with what pages sort it by: its cluster's age, then the cluster and the pool's name
// (unique within the cluster; pools carry no creation time of their own).
struct PoolOf {
    model::ClusterPoolView pool;
    model::Uuid clusterId;
    model::Timestamp clusterCreatedAt;
};

RenderedList renderPools(std::vector<PoolOf> pools, const PageRequest& page, const ClusterRoutes& routes) {
    auto key = [](const PoolOf& of) {
        return PageKey{of.clusterCreatedAt.time_since_epoch().count(),
                       of.clusterId.str() + "/" + of.pool.pool.name};
    };
    return renderPage(std::move(pools), page, key,
                      [&](const PoolOf& of) { return routes.poolJson(of.pool, of.clusterId); });
}

RenderedList poolPage(model::ClusterView view, const PageRequest& page, const ClusterRoutes& routes) {
    std::vector<PoolOf> pools;
    for (auto& pool : view.pools) {
        pools.push_back(PoolOf{std::move(pool), view.cluster.id, view.cluster.createdAt});
    }
    return renderPools(std::move(pools), page, routes);
}

}  // namespace

Result<agent::ClusterApi*> clusterService(ApiContext& ctx) {
    if (ctx.clusters == nullptr) {
        return Error{model::ErrorCode::NotImplemented, "not implemented", {}};
    }
    return ctx.clusters;
}

Result<ClusterTarget> clusterTarget(ApiContext& ctx, const Call& call, model::ClusterKind kind) {
    auto clusters = clusterService(ctx);
    if (!clusters) {
        return clusters.error();
    }
    auto id = pathId(call);
    if (!id) {
        return id.error();
    }
    if (auto found = (*clusters)->get(*call.project, kind, *id); !found) {
        return found.error();
    }
    return ClusterTarget{*clusters, *id};
}

Result<std::string> pathPool(const Call& call) {
    const std::string& pool = call.params.at("pool");
    if (auto valid = model::validateResourceName(pool, "pool"); !valid) {
        return valid.error();
    }
    return pool;
}

Reply noContent() {
    return Reply{http::status::no_content, {}, {}};
}

Awaitable createCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto clusters = clusterService(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto request = routes.parseCreate(call.body);
    if (!request) {
        co_return request.error();
    }
    auto view = co_await (*clusters)->create(*call.project, routes.kind, std::move(*request));
    if (!view) {
        co_return routes.createError == nullptr ? view.error() : routes.createError(view.error());
    }
    co_return Reply{http::status::created, dump(routes.clusterJson(*view))};
}

Awaitable listClusters(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto clusters = clusterService(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    auto key = [](const model::ClusterView& view) { return createdKey(view.cluster); };
    co_return listReply(
        renderPage((*clusters)->list(*call.project, routes.kind), *page, key, routes.clusterJson));
}

Awaitable getCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto view = at->clusters->get(*call.project, routes.kind, at->id);
    if (!view) {
        co_return view.error();
    }
    co_return Reply{http::status::ok, dump(routes.clusterJson(*view))};
}

Awaitable deleteCluster(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto removed = co_await at->clusters->remove(*call.project, routes.kind, at->id);
    if (!removed) {
        co_return removed.error();
    }
    co_return noContent();
}

Awaitable listClusterPools(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto view = at->clusters->get(*call.project, routes.kind, at->id);
    if (!view) {
        co_return view.error();
    }
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    co_return listReply(poolPage(std::move(*view), *page, routes));
}

Awaitable getClusterPool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto pool = pathPool(call);
    if (!pool) {
        co_return pool.error();
    }
    auto view = at->clusters->get(*call.project, routes.kind, at->id);
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::ok, *view, *pool, routes);
}

Awaitable listPools(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto clusters = clusterService(ctx);
    if (!clusters) {
        co_return clusters.error();
    }
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    std::vector<PoolOf> pools;
    for (auto& view : (*clusters)->list(*call.project, routes.kind)) {
        for (auto& pool : view.pools) {
            pools.push_back(PoolOf{std::move(pool), view.cluster.id, view.cluster.createdAt});
        }
    }
    co_return listReply(renderPools(std::move(pools), *page, routes));
}

Awaitable addPool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto pool = routes.parsePool(call.body);
    if (!pool) {
        co_return pool.error();
    }
    std::string name = pool->name;
    auto view = co_await at->clusters->addPool(*call.project, routes.kind, at->id, std::move(*pool));
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::created, *view, name, routes);
}

Awaitable scalePool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
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
    auto view = co_await at->clusters->scalePool(*call.project, routes.kind, at->id, *pool, *count);
    if (!view) {
        co_return view.error();
    }
    co_return poolReply(http::status::accepted, *view, *pool, routes);
}

Awaitable removePool(ApiContext& ctx, const Call& call, const ClusterRoutes& routes) {
    auto at = clusterTarget(ctx, call, routes.kind);
    if (!at) {
        co_return at.error();
    }
    auto pool = pathPool(call);
    if (!pool) {
        co_return pool.error();
    }
    auto removed = co_await at->clusters->removePool(*call.project, routes.kind, at->id, *pool);
    if (!removed) {
        co_return removed.error();
    }
    co_return noContent();
}

}  // namespace gpuhost::api::handlers

#include "handlers/handlers.hpp"
#include "handlers/list_reply.hpp"
#include "json_mapping.hpp"
#include "model/validation.hpp"

namespace gpuhost::api::handlers {

using model::InstanceAction;
using model::Result;

namespace {

Awaitable act(ApiContext& ctx, const Call& call, InstanceAction action) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto instance = co_await ctx.instances.act(*call.project, *id, action);
    if (!instance) {
        co_return instance.error();
    }
    if (action == InstanceAction::Delete) {
        co_return Reply{http::status::no_content, {}, {}};
    }
    co_return Reply{http::status::accepted, renderInstance(*instance)};
}

}  // namespace

Awaitable createInstance(ApiContext& ctx, const Call& call) {
    auto request = parseCreateInstance(call.body);
    if (!request) {
        co_return request.error();
    }
    auto instance = co_await ctx.instances.create(*call.project, std::move(*request));
    if (!instance) {
        co_return instance.error();
    }
    co_return Reply{http::status::created, renderInstance(*instance)};
}

Awaitable listInstances(ApiContext& ctx, const Call& call) {
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    auto render = [&] {
        auto cut = takePage(ctx.instances.list(*call.project), *page, createdKey<model::Instance>);
        return RenderedList{renderInstances(cut.items), std::move(cut.nextCursor)};
    };
    if (!page->plain()) {
        co_return listReply(render());
    }
    // The largest lists (tags, many instances): one rendering per change of the project's
    // instances, shared by every client that asks meanwhile, however slowly it reads.
    auto generation = ctx.instances.generation();
    co_return listReply(
        ctx.instanceLists.get(call.project->str(), generation, ctx.instances.troubleStamp(), render));
}

Awaitable getInstance(ApiContext& ctx, const Call& call) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto instance = ctx.instances.get(*call.project, *id);
    if (!instance) {
        co_return instance.error();
    }
    co_return Reply{http::status::ok, renderInstance(*instance)};
}

Awaitable deleteInstance(ApiContext& ctx, const Call& call) {
    return act(ctx, call, InstanceAction::Delete);
}

Awaitable startInstance(ApiContext& ctx, const Call& call) {
    return act(ctx, call, InstanceAction::Start);
}

Awaitable stopInstance(ApiContext& ctx, const Call& call) {
    return act(ctx, call, InstanceAction::Stop);
}

Awaitable getCapacity(ApiContext& ctx, const Call&) {
    auto capacity = ctx.instances.capacity();
    if (!capacity) {
        co_return capacity.error();
    }
    auto body = nlohmann::json::array();
    for (const auto& [type, fit] : *capacity) {
        body.push_back({{"name", type}, {"capacity", fit}});
    }
    co_return Reply{http::status::ok, dump(body)};
}

}  // namespace gpuhost::api::handlers

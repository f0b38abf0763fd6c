#include "handlers/handlers.hpp"
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
    co_return Reply{http::status::ok, renderInstances(ctx.instances.list(*call.project))};
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

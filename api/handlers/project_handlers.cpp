#include "handlers/handlers.hpp"
#include "json_mapping.hpp"
#include "model/validation.hpp"

namespace gpuhost::api::handlers {

using model::Result;

namespace {

Reply jsonReply(http::status status, const nlohmann::json& body) {
    return Reply{status, dump(body)};
}

}  // namespace

Awaitable createProject(ApiContext& ctx, const Call& call) {
    auto request = parseCreateProject(call.body);
    if (!request) {
        co_return request.error();
    }
    auto project = co_await ctx.projects.create(*call.principal, std::move(*request));
    if (!project) {
        co_return project.error();
    }
    co_return jsonReply(http::status::created, toJson(*project));
}

Awaitable listProjects(ApiContext& ctx, const Call& call) {
    // Read the generation first: a change racing with the render makes the entry stale,
    // never the reverse.
    auto generation = ctx.projects.generation();
    auto body = ctx.projectLists.get(call.principal->scope, generation, [&] {
        auto list = nlohmann::json::array();
        for (const auto& project : ctx.projects.list(*call.principal)) {
            list.push_back(toJson(project));
        }
        return dump(list);
    });
    co_return Reply{http::status::ok, *body};
}

Awaitable getProject(ApiContext& ctx, const Call& call) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto project = ctx.projects.get(*call.principal, *id);
    if (!project) {
        co_return project.error();
    }
    co_return jsonReply(http::status::ok, toJson(*project));
}

Awaitable deleteProject(ApiContext& ctx, const Call& call) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto removed = co_await ctx.projects.remove(*call.principal, *id);
    if (!removed) {
        co_return removed.error();
    }
    co_return Reply{http::status::no_content, {}, {}};
}

}  // namespace gpuhost::api::handlers

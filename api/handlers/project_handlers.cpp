#include "handlers/handlers.hpp"
#include "handlers/list_reply.hpp"
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
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    auto render = [&] {
        return renderPage(ctx.projects.list(*call.principal), *page, createdKey<model::Project>,
                          [](const model::Project& project) { return toJson(project); });
    };
    if (!page->plain()) {
        co_return listReply(render());
    }
    // The plain list is what every Atlas client asks for: render it once per change.
    auto generation = ctx.projects.generation();
    co_return listReply(ctx.projectLists.get(call.principal->scope, generation, {}, render));
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

#include "handlers/handlers.hpp"
#include "handlers/list_reply.hpp"
#include "json_mapping.hpp"

namespace gpuhost::api::handlers {

Awaitable createFilesystem(ApiContext& ctx, const Call& call) {
    auto request = parseCreateFilesystem(call.body, ctx.filesystems.maxBytes());
    if (!request) {
        co_return request.error();
    }
    auto filesystem = co_await ctx.filesystems.create(*call.project, std::move(*request));
    if (!filesystem) {
        co_return filesystem.error();
    }
    co_return Reply{http::status::created, dump(toJson(*filesystem))};
}

Awaitable listFilesystems(ApiContext& ctx, const Call& call) {
    auto page = pageRequest(ctx, call);
    if (!page) {
        co_return page.error();
    }
    co_return listReply(renderPage(ctx.filesystems.list(*call.project), *page, createdKey<model::Filesystem>,
                                   [](const model::Filesystem& filesystem) { return toJson(filesystem); }));
}

Awaitable getFilesystem(ApiContext& ctx, const Call& call) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto filesystem = ctx.filesystems.get(*call.project, *id);
    if (!filesystem) {
        co_return filesystem.error();
    }
    co_return Reply{http::status::ok, dump(toJson(*filesystem))};
}

Awaitable deleteFilesystem(ApiContext& ctx, const Call& call) {
    auto id = pathId(call);
    if (!id) {
        co_return id.error();
    }
    auto removed = co_await ctx.filesystems.remove(*call.project, *id);
    if (!removed) {
        co_return removed.error();
    }
    co_return Reply{http::status::no_content, {}, {}};
}

}  // namespace gpuhost::api::handlers

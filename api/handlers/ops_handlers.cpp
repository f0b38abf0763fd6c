#include "handlers/handlers.hpp"

namespace gpuhost::api::handlers {

Awaitable health(ApiContext&, const Call&) {
    co_return Reply{http::status::ok, "ok\n", "text/plain"};
}

Awaitable metrics(ApiContext& ctx, const Call&) {
    co_return Reply{http::status::ok, ctx.metrics.render(), "text/plain; version=0.0.4"};
}

Awaitable openapi(ApiContext&, const Call&) {
    co_return Reply{http::status::ok, std::string(openapiDocument()), "application/json"};
}

}  // namespace gpuhost::api::handlers

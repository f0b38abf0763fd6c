#include <map>

#include "handlers/handlers.hpp"
#include "json_mapping.hpp"

namespace gpuhost::api::handlers {

Awaitable listInstanceTypes(ApiContext& ctx, const Call&) {
    auto body = nlohmann::json::array();
    for (const auto& type : ctx.catalog.instanceTypes()) {
        body.push_back(toJson(type));
    }
    co_return Reply{http::status::ok, dump(body)};
}

// Features are derived from the route table: one is implemented when every one of
// its routes has a handler, so this answer changes only when the code does.
Awaitable getCapabilities(ApiContext& ctx, const Call&) {
    std::map<std::string_view, bool> implemented;
    for (const auto& route : routeTable()) {
        auto [it, inserted] = implemented.emplace(route.feature, true);
        it->second = it->second && route.handler != nullptr;
    }
    auto features = nlohmann::json::array();
    for (const auto& [name, done] : implemented) {
        features.push_back({{"name", name}, {"implemented", done}});
    }
    nlohmann::json body{
        {"region", ctx.catalog.region()},
        {"virtType", agent::nameOf(ctx.catalog.virtType())},
        {"features", features},
    };
    co_return Reply{http::status::ok, dump(body)};
}

}  // namespace gpuhost::api::handlers

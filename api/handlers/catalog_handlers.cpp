#include <algorithm>
#include <map>
#include <optional>

#include "handlers/handlers.hpp"
#include "json_mapping.hpp"

namespace gpuhost::api::handlers {

namespace {

// A boolean query parameter (`?name=true`): absent is false; anything but one "true" or
// "false" is a 400 naming it, so a typo never silently picks the other answer.
model::Result<bool> queryFlag(std::string_view target, std::string_view name) {
    auto mark = target.find('?');
    std::string_view query = mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1);
    std::optional<bool> flag;
    while (!query.empty()) {
        std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), pair.size() + 1));
        std::string_view key = pair.substr(0, pair.find('='));
        if (key != name) {
            continue;
        }
        std::string_view value = key.size() < pair.size() ? pair.substr(key.size() + 1) : std::string_view();
        if (flag || (value != "true" && value != "false")) {
            return model::Error::invalid(std::string(name), "must be given once, as true or false");
        }
        flag = value == "true";
    }
    return flag.value_or(false);
}

}  // namespace

Awaitable listInstanceTypes(ApiContext& ctx, const Call&) {
    auto body = nlohmann::json::array();
    for (const auto& type : ctx.catalog.instanceTypes()) {
        body.push_back(toJson(type));
    }
    co_return Reply{http::status::ok, dump(body)};
}

// Features are derived from the route table: one is implemented when every one of its
// routes is (a handler, and the service and cluster kind behind it: implemented()), so this
// answer changes only when the code or the daemon's wiring does.
Awaitable getCapabilities(ApiContext& ctx, const Call& call) {
    auto detail = queryFlag(call.request.target(), "detail");
    if (!detail) {
        co_return detail.error();
    }
    std::map<std::string_view, bool> served;
    for (const auto& route : routeTable()) {
        auto [it, inserted] = served.emplace(route.feature, true);
        it->second = it->second && implemented(route, ctx);
    }
    if (!*detail) {
        // The Atlas contract: a JSON array of the implemented features' names.
        auto names = nlohmann::json::array();
        for (const auto& [name, done] : served) {
            if (done) {
                names.push_back(name);
            }
        }
        co_return Reply{http::status::ok, dump(names)};
    }
    auto features = nlohmann::json::array();
    for (const auto& [name, done] : served) {
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

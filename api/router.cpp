#include "router.hpp"

#include "api_context.hpp"

namespace gpuhost::api {

namespace {

// Walks both paths segment by segment; "{name}" matches one non-empty segment.
bool matchTemplate(std::string_view pattern, std::string_view path, PathParams& params) {
    params.clear();
    while (!pattern.empty() && !path.empty()) {
        if (pattern.front() != '/' || path.front() != '/') {
            return false;
        }
        pattern.remove_prefix(1);
        path.remove_prefix(1);
        auto patternEnd = pattern.find('/');
        auto pathEnd = path.find('/');
        std::string_view patternSegment = pattern.substr(0, patternEnd);
        std::string_view pathSegment = path.substr(0, pathEnd);
        if (patternSegment.size() > 2 && patternSegment.front() == '{' && patternSegment.back() == '}') {
            if (pathSegment.empty()) {
                return false;
            }
            params.emplace(std::string(patternSegment.substr(1, patternSegment.size() - 2)),
                           std::string(pathSegment));
        } else if (patternSegment != pathSegment) {
            return false;
        }
        pattern.remove_prefix(patternSegment.size());
        path.remove_prefix(pathSegment.size());
    }
    return pattern.empty() && path.empty();
}

}  // namespace

RouteMatch matchRoute(const std::vector<Route>& routes, http::verb method, std::string_view target) {
    std::string_view path = target.substr(0, target.find('?'));
    RouteMatch match;
    PathParams params;
    for (const auto& route : routes) {
        if (!matchTemplate(route.path, path, params)) {
            continue;
        }
        if (!match.allow.empty()) {
            match.allow += ", ";
        }
        match.allow += std::string(http::to_string(route.method));
        if (route.method == method && match.route == nullptr) {
            match.route = &route;
            match.params = params;
        }
    }
    return match;
}

bool implemented(const Route& route, const ApiContext& ctx) {
    if (route.handler == nullptr) {
        return false;
    }
    auto kind = model::parseClusterKind(route.feature);
    return !kind || (ctx.clusters != nullptr && ctx.clusters->offers(*kind));
}

}  // namespace gpuhost::api

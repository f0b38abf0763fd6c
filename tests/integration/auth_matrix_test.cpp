#include <doctest/doctest.h>

#include <regex>

#include "api_helpers.hpp"
#include "router.hpp"

using namespace gpuhost;
using namespace gpuhost::test;

namespace {

// A concrete target for a route template: ids are fresh UUIDs, other parameters plain names.
std::string concreteTarget(std::string_view pattern) {
    std::string target(pattern);
    target = std::regex_replace(target, std::regex(R"(\{id\})"), model::Uuid::random().str());
    target = std::regex_replace(target, std::regex(R"(\{pool\})"), "pool-a");
    target = std::regex_replace(target, std::regex(R"(\{username\})"), "alice");
    return target;
}

std::string method(const api::Route& route) {
    return std::string(api::http::to_string(route.method));
}

}  // namespace

// Generated from the route table, so a new route is covered the day it is added.
TEST_CASE("auth matrix: every route × {no token, bad token, foreign project}") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "owner");
    for (const auto& route : api::routeTable()) {
        std::string target = concreteTarget(route.path);
        CAPTURE(method(route) + " " + target);
        auto anonymous = httpRequest(daemon.port(), method(route), target);
        auto forged = httpRequest(daemon.port(), method(route), target, bearer("not-a-real-token"));
        if (route.access == api::Access::Public) {
            CHECK(anonymous.status == 200);
            continue;
        }
        CHECK(anonymous.status == 401);
        CHECK(anonymous.header("www-authenticate") == "Bearer realm=\"gpuhost\"");
        CHECK(forged.status == 401);
        Headers limited = bearer(Daemon::kLimitedToken);
        limited.emplace_back("X-PROJECT-ID", project);
        auto foreign = httpRequest(daemon.port(), method(route), target, limited);
        if (route.access == api::Access::Project || route.access == api::Access::Operator) {
            CHECK(foreign.status == 403);
        }
    }
}

TEST_CASE("auth matrix: another project's id answers 404, exactly like an unknown id") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "owner");
    for (const auto* verb : {"GET", "DELETE"}) {
        auto foreign =
            httpRequest(daemon.port(), verb, kBase + "/projects/" + project, bearer(Daemon::kLimitedToken));
        auto unknown = httpRequest(daemon.port(), verb, kBase + "/projects/" + model::Uuid::random().str(),
                                   bearer(Daemon::kOperatorToken));
        CHECK(foreign.status == 404);
        CHECK(unknown.status == 404);
        CHECK(foreign.body == unknown.body);
    }
}

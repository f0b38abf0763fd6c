#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
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

// Every implemented route that names a project-scoped resource by {id}, generated from the
// route table: called from another project it answers 404, byte for byte like an unknown
// id, and changes nothing. A new resource kind needs one line in `makers`.
TEST_CASE("auth matrix: every {id} route × another project's resource → 404, like an unknown id") {
    Daemon daemon;
    daemon.start();
    auto owner = createProject(daemon.port(), "owner");
    auto other = createProject(daemon.port(), "other");
    std::map<std::string, std::function<std::string()>> makers = {
        {"/api/v1alpha1/instances/",
         [&] {
             auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(owner, true),
                                        R"({"name":"probe","type":"cpu.small"})");
             REQUIRE(created.status == 201);
             return nlohmann::json::parse(created.body).at("id").get<std::string>();
         }},
        {"/api/v1alpha1/filesystems/",
         [&] {
             auto created = httpRequest(daemon.port(), "POST", kBase + "/filesystems", inProject(owner, true),
                                        R"({"name":"probe","size":"1Gi"})");
             REQUIRE(created.status == 201);
             return nlohmann::json::parse(created.body).at("id").get<std::string>();
         }},
        {"/api/v1alpha1/slurm/clusters/",
         [&] {
             auto created =
                 httpRequest(daemon.port(), "POST", kBase + "/slurm/clusters", inProject(owner, true),
                             R"({"name":"probe","nodePools":[{"name":"cpu","type":"cpu.small","count":1}]})");
             REQUIRE(created.status == 201);
             return nlohmann::json::parse(created.body).at("id").get<std::string>();
         }},
        {"/api/v1alpha1/kubernetes/clusters/",
         [&] {
             auto created = httpRequest(
                 daemon.port(), "POST", kBase + "/kubernetes/clusters", inProject(owner, true),
                 R"({"name":"probe","version":"1.31.2","defaultNodePool":{"name":"cpu","type":"cpu.small","count":1}})");
             REQUIRE(created.status == 201);
             return nlohmann::json::parse(created.body).at("id").get<std::string>();
         }},
    };
    // A feature the daemon does not serve answers 501 on every route,
    // handler or not: /capabilities leaves it out, and so does this test.
    auto served = nlohmann::json::parse(
        httpRequest(daemon.port(), "GET", kBase + "/capabilities", inProject(owner)).body);
    std::map<std::string, std::string> made;
    int covered = 0;
    for (const auto& route : api::routeTable()) {
        std::string path(route.path);
        auto at = path.find("{id}");
        if (route.access != api::Access::Project || route.handler == nullptr || at == std::string::npos ||
            std::find(served.begin(), served.end(), std::string(route.feature)) == served.end()) {
            continue;
        }
        auto prefix = path.substr(0, at);
        std::string missing = "no resource maker for " + prefix;
        REQUIRE_MESSAGE(makers.contains(prefix), missing);
        if (!made.contains(prefix)) {
            made[prefix] = makers.at(prefix)();
        }
        std::string target = path.replace(at, 4, made[prefix]);
        std::string unknownTarget = std::string(route.path).replace(at, 4, model::Uuid::random().str());
        CAPTURE(method(route) + " " + target);
        std::string body = route.takesBody ? "{}" : "";
        auto foreign =
            httpRequest(daemon.port(), method(route), target, inProject(other, route.takesBody), body);
        auto unknown =
            httpRequest(daemon.port(), method(route), unknownTarget, inProject(other, route.takesBody), body);
        CHECK(foreign.status == 404);
        CHECK(foreign.body == unknown.body);
        ++covered;
    }
    CHECK(covered >= 4);  // GET, DELETE, start, stop of instances
    // Nothing changed for the owner.
    auto still = httpRequest(daemon.port(), "GET", kBase + "/instances/" + made["/api/v1alpha1/instances/"],
                             inProject(owner));
    REQUIRE(still.status == 200);
    CHECK(nlohmann::json::parse(still.body).at("state") != "deleting");
}

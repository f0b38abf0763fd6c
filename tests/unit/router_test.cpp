#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "api_context.hpp"
#include "router.hpp"

using namespace gpuhost::api;

TEST_CASE("router: templates match whole segments and capture parameters") {
    const auto& routes = routeTable();
    auto match =
        matchRoute(routes, http::verb::get, "/api/v1alpha1/kubernetes/clusters/abc/node-pools/gpu?x=1");
    REQUIRE(match.route != nullptr);
    CHECK(match.route->path == "/api/v1alpha1/kubernetes/clusters/{id}/node-pools/{pool}");
    CHECK(match.params.at("id") == "abc");
    CHECK(match.params.at("pool") == "gpu");

    auto projects = matchRoute(routes, http::verb::get, "/api/v1alpha1/projects");
    REQUIRE(projects.route != nullptr);
    CHECK(projects.route->path == "/api/v1alpha1/projects");

    for (const char* unknown :
         {"/", "/api", "/api/v1alpha1/projects/", "/api/v1alpha1/projects//x", "/api/v1alpha1/nope",
          "/api/v1alpha1/projects/a/b", "api/v1alpha1/projects", "/API/v1alpha1/projects", "/healthz/x"}) {
        CAPTURE(unknown);
        auto none = matchRoute(routes, http::verb::get, unknown);
        CHECK(none.route == nullptr);
        CHECK(none.allow.empty());
    }
}

TEST_CASE("router: a known path with a wrong method lists the allowed methods") {
    auto match = matchRoute(routeTable(), http::verb::put, "/api/v1alpha1/projects/x");
    CHECK(match.route == nullptr);
    CHECK(match.allow == "GET, DELETE");
    auto users = matchRoute(routeTable(), http::verb::patch, "/api/v1alpha1/slurm/clusters/c/users/alice");
    CHECK(users.allow == "GET, PUT, DELETE");
}

TEST_CASE("router: every (method, path) appears once") {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& route : routeTable()) {
        auto key = std::make_pair(std::string(http::to_string(route.method)), std::string(route.path));
        CAPTURE(key.second);
        CHECK(seen.insert(key).second);
    }
}

namespace {

std::set<std::pair<std::string, std::string>> openapiOperations(const nlohmann::json& document) {
    std::set<std::pair<std::string, std::string>> operations;
    for (const auto& [path, item] : document.at("paths").items()) {
        for (const auto& [method, operation] : item.items()) {
            if (method == "get" || method == "post" || method == "put" || method == "patch" ||
                method == "delete") {
                std::string upper = method;
                for (auto& c : upper) {
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                }
                operations.emplace(upper, path);
            }
        }
    }
    return operations;
}

}  // namespace

TEST_CASE("the OpenAPI document and the route table list exactly the same routes") {
    auto document = nlohmann::json::parse(openapiDocument());
    CHECK(document.at("openapi").get<std::string>().rfind("3.0", 0) == 0);
    std::set<std::pair<std::string, std::string>> table;
    for (const auto& route : routeTable()) {
        table.emplace(std::string(http::to_string(route.method)), std::string(route.path));
    }
    auto documented = openapiOperations(document);
    for (const auto& op : table) {
        CAPTURE(op.first + " " + op.second);
        CHECK(documented.contains(op));
    }
    for (const auto& op : documented) {
        CAPTURE(op.first + " " + op.second);
        CHECK(table.contains(op));
    }
    // The embedded copy is the file in the repository, not a stale one.
    std::ifstream file(GPUHOST_SOURCE_DIR "/api/openapi.json");
    std::stringstream text;
    text << file.rdbuf();
    CHECK(nlohmann::json::parse(text.str()) == document);
}

TEST_CASE("routes that need a project say so in the document too") {
    auto document = nlohmann::json::parse(openapiDocument());
    for (const auto& route : routeTable()) {
        auto method = std::string(http::to_string(route.method));
        for (auto& c : method) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        const auto& operation = document["paths"][std::string(route.path)][method];
        bool documentsHeader = operation.dump().find("ProjectId") != std::string::npos ||
                               operation.dump().find("X-PROJECT-ID") != std::string::npos;
        CAPTURE(route.path);
        CHECK(documentsHeader == (route.access == Access::Project));
    }
}

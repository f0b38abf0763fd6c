#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "unit/api_fixture.hpp"

using namespace gpuhost;
using namespace gpuhost::api;
using test::runCoroutine;

using test::api_fixture::Fixture;
using test::api_fixture::kOperator;
using test::api_fixture::kScoped;

TEST_CASE("handler: tokens are checked before anything else") {
    Fixture f;
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects", "").result() == http::status::unauthorized);
    auto bad = f.send(http::verb::get, "/api/v1alpha1/projects", "wrong");
    CHECK(bad.result() == http::status::unauthorized);
    CHECK(bad[http::field::www_authenticate] == "Bearer realm=\"gpuhost\"");
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects").result() == http::status::ok);
    CHECK(f.send(http::verb::get, "/healthz", "").result() == http::status::ok);
    CHECK(f.send(http::verb::get, "/metrics", "").result() == http::status::unauthorized);
    CHECK(f.send(http::verb::get, "/metrics", kScoped).result() == http::status::forbidden);
    CHECK(f.send(http::verb::get, "/metrics").result() == http::status::ok);
}

TEST_CASE("handler: project scoping: 400 missing/bad header, 403 foreign project, 404 unknown project") {
    Fixture f;
    auto project = f.createProject("team");
    const std::string target = "/api/v1alpha1/instance-types";
    auto missing = f.send(http::verb::get, target);
    CHECK(missing.result() == http::status::bad_request);
    CHECK(nlohmann::json::parse(missing.body().str()).at("field") == "X-PROJECT-ID");
    CHECK(f.send(http::verb::get, target, kOperator, {}, "not-a-uuid").result() == http::status::bad_request);
    CHECK(f.send(http::verb::get, target, kScoped, {}, project).result() == http::status::forbidden);
    CHECK(f.send(http::verb::get, target, kOperator, {}, model::Uuid::random().str()).result() ==
          http::status::not_found);
    // The scoped token's own project does not exist (yet): 404, not 403.
    CHECK(f.send(http::verb::get, target, kScoped, {}, f.scopedProject.str()).result() ==
          http::status::not_found);
    auto ok = f.send(http::verb::get, target, kOperator, {}, project);
    CHECK(ok.result() == http::status::ok);
    CHECK(nlohmann::json::parse(ok.body().str())[0].at("name") == "cpu.small");
}

TEST_CASE("handler: unimplemented routes answer 501 after auth, never invented data") {
    Fixture f;
    auto project = f.createProject("team");
    auto response = f.send(http::verb::get, "/api/v1alpha1/kubernetes/clusters", kOperator, {}, project);
    CHECK(response.result() == http::status::not_implemented);
    CHECK(nlohmann::json::parse(response.body().str()) == nlohmann::json{{"message", "not implemented"}});
    CHECK(f.send(http::verb::get, "/api/v1alpha1/kubernetes/clusters", "").result() ==
          http::status::unauthorized);
}

TEST_CASE("handler: 404 unknown path, 405 with Allow, 415 without JSON content type") {
    Fixture f;
    CHECK(f.send(http::verb::get, "/api/v1alpha1/nothing").result() == http::status::not_found);
    auto wrongMethod = f.send(http::verb::put, "/api/v1alpha1/projects");
    CHECK(wrongMethod.result() == http::status::method_not_allowed);
    CHECK(wrongMethod[http::field::allow] == "POST, GET");
    Request plain{http::verb::post, "/api/v1alpha1/projects", 11};
    plain.set(http::field::authorization, std::string("Bearer ") + kOperator);
    plain.set(http::field::content_type, "text/plain");
    plain.body() = R"({"name":"x"})";
    plain.prepare_payload();
    CHECK(runCoroutine(f.handler.handle(std::move(plain), "t")).result() ==
          http::status::unsupported_media_type);
    CHECK(f.store.size() == 0);
}

TEST_CASE("handler: every response carries a request id, a safe client id is echoed") {
    Fixture f;
    auto generated = f.send(http::verb::get, "/healthz");
    CHECK(generated["X-Request-Id"].size() == 16);
    Request request{http::verb::get, "/healthz", 11};
    request.set("X-Request-Id", "client-abc.1");
    CHECK(runCoroutine(f.handler.handle(std::move(request), "t"))["X-Request-Id"] == "client-abc.1");
    CHECK(requestIdFor("evil\nid").size() == 16);
    CHECK(requestIdFor(std::string(65, 'a')).size() == 16);
}

TEST_CASE("handler: repeated identity headers are rejected as ambiguous") {
    Fixture f;
    Request request{http::verb::get, "/api/v1alpha1/projects", 11};
    request.insert(http::field::authorization, std::string("Bearer ") + kScoped);
    request.insert(http::field::authorization, std::string("Bearer ") + kOperator);
    CHECK(runCoroutine(f.handler.handle(std::move(request), "t")).result() == http::status::bad_request);
}

TEST_CASE("handler: projects lifecycle and error bodies name the field") {
    Fixture f;
    auto bad = f.send(http::verb::post, "/api/v1alpha1/projects", kOperator, R"({"name": 7})");
    CHECK(bad.result() == http::status::bad_request);
    CHECK(nlohmann::json::parse(bad.body().str()) ==
          nlohmann::json{{"message", "name: must be a string"}, {"field", "name"}});
    auto id = f.createProject("team");
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects/" + id).result() == http::status::ok);
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects/" + id, kScoped).result() ==
          http::status::not_found);
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects/nope").result() == http::status::bad_request);
    auto deleted = f.send(http::verb::delete_, "/api/v1alpha1/projects/" + id);
    CHECK(deleted.result() == http::status::no_content);
    CHECK(deleted.body().empty());
    CHECK(f.send(http::verb::get, "/api/v1alpha1/projects/" + id).result() == http::status::not_found);
}

TEST_CASE("handler: an internal error is logged, not leaked") {
    Fixture f;
    f.store.failNext(model::Error::internal("disk I/O error at /var/lib/gpuhost/gpuhost.db"));
    auto response = f.send(http::verb::post, "/api/v1alpha1/projects", kOperator, R"({"name":"x"})");
    CHECK(response.result() == http::status::internal_server_error);
    CHECK(response.body().find("disk") == std::string::npos);
}

TEST_CASE("handler: capabilities are the names of the features the route table implements") {
    Fixture f;
    auto project = f.createProject("team");
    // The public Atlas client decodes a JSON array of strings.
    auto response = f.send(http::verb::get, "/api/v1alpha1/capabilities", kOperator, {}, project);
    REQUIRE(response.result() == http::status::ok);
    auto names = nlohmann::json::parse(response.body().str());
    REQUIRE(names.is_array());
    std::set<std::string> implemented;
    for (const auto& name : names) {
        REQUIRE(name.is_string());
        implemented.insert(name.get<std::string>());
    }
    CHECK(implemented.size() == names.size());
    // Exactly the features all of whose routes have a handler, less the cluster features:
    // this fixture has no cluster service (see slurm_api_test.cpp for one that has).
    std::map<std::string, bool> expected;
    for (const auto& route : routeTable()) {
        auto [it, inserted] = expected.emplace(route.feature, true);
        bool cluster = route.feature == "slurm" || route.feature == "kubernetes";
        it->second = it->second && route.handler != nullptr && !cluster;
    }
    for (const auto& [feature, done] : expected) {
        CAPTURE(feature);
        CHECK(implemented.contains(feature) == done);
    }
    CHECK(implemented.contains("instances"));
    CHECK(implemented.contains("filesystems"));
    CHECK_FALSE(implemented.contains("kubernetes"));
    CHECK_FALSE(implemented.contains("slurm"));
}

TEST_CASE("handler: capabilities?detail=true keeps the detailed form (a gpuhost extension)") {
    Fixture f;
    auto project = f.createProject("team");
    for (std::string query : {"?detail=true", "?x=1&detail=true"}) {
        CAPTURE(query);
        auto response = f.send(http::verb::get, "/api/v1alpha1/capabilities" + query, kOperator, {}, project);
        REQUIRE(response.result() == http::status::ok);
        auto body = nlohmann::json::parse(response.body().str());
        CHECK(body.at("region").is_string());
        CHECK(body.at("virtType").is_string());
        std::map<std::string, bool> features;
        for (const auto& feature : body.at("features")) {
            features[feature.at("name")] = feature.at("implemented");
        }
        CHECK(features.at("projects"));
        CHECK(features.at("instances"));
        CHECK(features.at("filesystems"));
        CHECK_FALSE(features.at("kubernetes"));
        CHECK_FALSE(features.at("slurm"));
    }
    CHECK(nlohmann::json::parse(
              f.send(http::verb::get, "/api/v1alpha1/capabilities?detail=false", kOperator, {}, project)
                  .body()
                  .str())
              .is_array());
    for (std::string query : {"?detail=yes", "?detail", "?detail=true&detail=true", "?detail=TRUE"}) {
        CAPTURE(query);
        auto bad = f.send(http::verb::get, "/api/v1alpha1/capabilities" + query, kOperator, {}, project);
        CHECK(bad.result() == http::status::bad_request);
        CHECK(nlohmann::json::parse(bad.body().str()).at("field") == "detail");
    }
}

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using nlohmann::json;

TEST_CASE("projects: create, list, get, delete over real HTTP") {
    Daemon daemon;
    daemon.start();
    auto created = httpRequest(daemon.port(), "POST", kBase + "/projects", operatorJson(),
                               R"({"name":"ML team","tags":{"env":"prod","cost-center":"42"}})");
    REQUIRE(created.status == 201);
    CHECK(created.header("content-type") == "application/json");
    auto project = json::parse(created.body);
    CHECK(project.at("name") == "ML team");
    CHECK(project.at("state") == "active");
    CHECK(project.at("tags").at("cost-center") == "42");
    std::string id = project.at("id");

    auto list = httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken));
    REQUIRE(list.status == 200);
    CHECK(json::parse(list.body) == json::array({project}));

    auto one = httpRequest(daemon.port(), "GET", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken));
    CHECK(one.status == 200);
    CHECK(json::parse(one.body) == project);

    auto duplicate =
        httpRequest(daemon.port(), "POST", kBase + "/projects", operatorJson(), R"({"name":"ML team"})");
    CHECK(duplicate.status == 409);

    auto removed =
        httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken));
    CHECK(removed.status == 204);
    CHECK(
        httpRequest(daemon.port(), "GET", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken)).status ==
        404);
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken))
              .status == 404);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("projects: everything acknowledged survives SIGTERM restarts and SIGKILL crashes") {
    Daemon daemon;
    daemon.start();
    std::vector<std::string> kept;
    for (int i = 0; i < 5; ++i) {
        kept.push_back(createProject(daemon.port(), "p" + std::to_string(i)));
    }
    auto doomed = createProject(daemon.port(), "doomed");
    REQUIRE(
        httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + doomed, bearer(Daemon::kOperatorToken))
            .status == 204);
    REQUIRE(daemon.stop() == 0);
    daemon.start();
    kept.push_back(createProject(daemon.port(), "after-restart"));
    daemon.kill();  // no chance to flush anything: only what was fsynced counts
    daemon.start();
    auto list = json::parse(
        httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body);
    REQUIRE(list.size() == kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
        CHECK(list[i].at("id") == kept[i]);
    }
}

TEST_CASE("projects: 50 concurrent clients each create and read their own project") {
    Daemon daemon;
    daemon.start();
    std::atomic<int> failures{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 50; ++c) {
        clients.emplace_back([&, c] {
            try {
                Connection connection(daemon.port());
                auto created = connection.request("POST", kBase + "/projects", operatorJson(),
                                                  R"({"name":"client-)" + std::to_string(c) + "\"}");
                std::string id = json::parse(created.body).at("id");
                for (int i = 0; i < 10; ++i) {
                    auto got =
                        connection.request("GET", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken));
                    if (got.status != 200 || json::parse(got.body).at("id") != id) {
                        ++failures;
                    }
                }
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& client : clients) {
        client.join();
    }
    CHECK(failures == 0);
    auto list = json::parse(
        httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body);
    CHECK(list.size() == 50);
}

TEST_CASE("projects: a scoped token sees only its own projects and cannot create any") {
    Daemon daemon;
    daemon.start();
    auto other = createProject(daemon.port(), "someone-else");
    auto list = httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kLimitedToken));
    CHECK(list.status == 200);
    CHECK(json::parse(list.body).empty());
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/projects/" + other, bearer(Daemon::kLimitedToken))
              .status == 404);
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + other, bearer(Daemon::kLimitedToken))
              .status == 404);
    Headers limitedJson = bearer(Daemon::kLimitedToken);
    limitedJson.emplace_back("Content-Type", "application/json");
    CHECK(httpRequest(daemon.port(), "POST", kBase + "/projects", limitedJson, R"({"name":"mine"})").status ==
          403);
    // Nothing changed for the operator either.
    auto all = json::parse(
        httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body);
    CHECK(all.size() == 1);
}

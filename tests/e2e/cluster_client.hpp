#pragma once

// One cluster of a kind (/slurm/clusters or /kubernetes/clusters) as the e2e tests drive it
// through the API: calls in its project, its view, and polling until a condition holds.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../integration/api_helpers.hpp"

namespace gpuhost::test::e2e {

struct ClusterClient {
    std::uint16_t port;
    std::string project;
    std::string base;                     // "/slurm/clusters" or "/kubernetes/clusters"
    std::string cluster;                  // its id, once created
    std::vector<std::string> statuses{};  // every status type seen, in order

    HttpResponse call(const std::string& method, const std::string& path, const std::string& body = {}) {
        return httpRequest(port, method, kBase + path, inProject(project, !body.empty()), body);
    }
    /// The cluster's own path below the API base, with `rest` appended.
    std::string path(const std::string& rest = {}) const { return base + "/" + cluster + rest; }
    nlohmann::json get() {
        auto got = call("GET", path());
        REQUIRE_MESSAGE(got.status == 200, got.body);
        auto view = nlohmann::json::parse(got.body);
        auto type = view["status"]["type"].get<std::string>();
        if (statuses.empty() || statuses.back() != type) {
            statuses.push_back(type);
        }
        return view;
    }
    /// Polls the cluster until `done` holds (every status change logged); the last view either way.
    nlohmann::json waitFor(const std::function<bool(const nlohmann::json&)>& done,
                           std::chrono::minutes limit = std::chrono::minutes(10)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        auto view = get();
        std::string last;
        while (!done(view) && std::chrono::steady_clock::now() < deadline) {
            auto status = view["status"].dump();
            if (status != last) {
                MESSAGE("cluster status: " << status);
                last = status;
            }
            std::this_thread::sleep_for(std::chrono::seconds(3));
            view = get();
        }
        return view;
    }
    /// DELETE, then waits (up to 5 minutes) until the cluster is 404: true once it is.
    bool removeAndWait() {
        REQUIRE(call("DELETE", path()).status == 204);
        auto gone = std::chrono::steady_clock::now() + std::chrono::minutes(5);
        while (call("GET", path()).status != 404 && std::chrono::steady_clock::now() < gone) {
            std::this_thread::sleep_for(std::chrono::seconds(2));
        }
        return call("GET", path()).status == 404;
    }
};

}  // namespace gpuhost::test::e2e

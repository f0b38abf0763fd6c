#pragma once

// The Kubernetes routes through the pure request handler, over FakeClusterApi: a fixture
// with a project and the fake cluster service, shared by kubernetes_api_test.cpp (routes
// and shapes) and kubernetes_create_test.cpp (create bodies).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "unit/cluster_api_fixture.hpp"

namespace gpuhost::test::kubernetes_api {

using namespace gpuhost::api;
using nlohmann::json;
using test::api_fixture::kOperator;

inline const std::string kBase = "/api/v1alpha1/kubernetes";

struct KubernetesFixture : test::ClusterRoutesFixture {
    KubernetesFixture() : ClusterRoutesFixture(kBase) {}

    std::string createCluster(const std::string& name = "prod") {
        return ok(http::verb::post, "/clusters", minimal(name), http::status::created).at("id");
    }

    model::ClusterView& view(const std::string& id) { return clusters.views.at(*model::Uuid::parse(id)); }

    static json minimal(const std::string& name = "prod") {
        return {{"name", name},
                {"version", "1.31.2"},
                {"defaultNodePool", {{"name", "gpu"}, {"type", "cpu.small"}, {"count", 2}}}};
    }
};

using test::checkRejected;

inline std::set<std::string> keysOf(const json& object) {
    std::set<std::string> keys;
    for (const auto& [key, value] : object.items()) {
        keys.insert(key);
    }
    return keys;
}

}  // namespace gpuhost::test::kubernetes_api

#pragma once

// The cluster routes of one kind (Slurm, Kubernetes) through the pure request handler, over
// FakeClusterApi: a project, the fake cluster service, calls under the kind's base path, and
// the check of a 400 naming its field. The kinds' API tests build on it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "fakes/fake_cluster_api.hpp"
#include "unit/api_fixture.hpp"

namespace gpuhost::test {

struct ClusterRoutesFixture : api_fixture::Fixture {
    FakeClusterApi clusters;
    std::string project;
    std::string base;  // "/api/v1alpha1/slurm"

    explicit ClusterRoutesFixture(std::string basePath) : base(std::move(basePath)) {
        context.clusters = &clusters;
        project = createProject("team");
    }

    api::Response call(api::http::verb method, const std::string& path,
                       const nlohmann::json& body = nullptr) {
        return send(method, base + path, api_fixture::kOperator, body.is_null() ? std::string() : body.dump(),
                    project);
    }

    nlohmann::json ok(api::http::verb method, const std::string& path, const nlohmann::json& body,
                      api::http::status expected) {
        auto response = call(method, path, body);
        CAPTURE(response.body().str());
        REQUIRE(response.result() == expected);
        return nlohmann::json::parse(response.body().str());
    }
};

/// The status and the field a 400 names.
inline void checkRejected(const api::Response& response, const std::string& field) {
    CAPTURE(response.body().str());
    CHECK(response.result() == api::http::status::bad_request);
    CHECK(nlohmann::json::parse(response.body().str()).value("field", "") == field);
}

}  // namespace gpuhost::test

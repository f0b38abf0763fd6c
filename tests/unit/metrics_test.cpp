#include <doctest/doctest.h>

#include "log.hpp"
#include "metrics.hpp"

using namespace gpuhost::agent;

TEST_CASE("metrics: counters by route template and status, histograms, resource gauges") {
    Metrics metrics;
    metrics.observeRequest("/api/v1alpha1/projects/{id}", "GET", 200, 0.0007);
    metrics.observeRequest("/api/v1alpha1/projects/{id}", "GET", 200, 0.02);
    metrics.observeRequest("/api/v1alpha1/projects/{id}", "GET", 404, 0.0001);
    metrics.addResourceCounter([] { return std::vector<ResourceCount>{{"project", "active", 3}}; });
    auto text = metrics.render();
    CHECK(text.find("gpuhost_http_requests_total{route=\"/api/v1alpha1/projects/"
                    "{id}\",method=\"GET\",status=\"200\"} 2") != std::string::npos);
    CHECK(text.find("status=\"404\"} 1") != std::string::npos);
    CHECK(text.find("gpuhost_http_request_duration_seconds_bucket{route=\"/api/v1alpha1/projects/"
                    "{id}\",le=\"0.001\"} 2") != std::string::npos);
    CHECK(text.find("le=\"+Inf\"} 3") != std::string::npos);
    CHECK(text.find("gpuhost_resources{kind=\"project\",state=\"active\"} 3") != std::string::npos);
    CHECK(text.find("# TYPE gpuhost_http_request_duration_seconds histogram") != std::string::npos);
}

TEST_CASE("log values are quoted so no input can split a line or forge a field") {
    CHECK(log::quote("plain") == "plain");
    CHECK(log::quote("") == "\"\"");
    CHECK(log::quote("a b") == "\"a b\"");
    CHECK(log::quote("x\nlevel=error") == "\"x\\x0alevel=error\"");
    CHECK(log::quote("say \"hi\"") == "\"say \\\"hi\\\"\"");
    CHECK(log::quote("a=b") == "\"a=b\"");
}

// Quotas through the daemon (issue #16's second finding: a project token made 1,000
// instances in seconds, out-of-stock ones costing it nothing, and 50 filesystems of 16Ti).
// A project stops at its instance quota, out-of-stock ones counted; the region stops at its
// ceiling for every project together; filesystems stop at their count and their total size.
// Each refusal is 403 naming the limit, and the lists show nothing more was stored.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

std::size_t listed(Daemon& daemon, const std::string& project, const std::string& path) {
    auto got = httpRequest(daemon.port(), "GET", kBase + path, inProject(project));
    REQUIRE(got.status == 200);
    return json::parse(got.body).size();
}

void checkQuotaRefusal(const HttpResponse& response, const std::string& limit) {
    CHECK_MESSAGE(response.status == 403, response.body);
    auto body = json::parse(response.body, nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body.value("field", "") == limit);
    CHECK(body.value("message", "").starts_with("quota exceeded"));
}

}  // namespace

TEST_CASE(
    "quotas: instances per project (out-of-stock counted) and in the region, filesystems by count and size") {
    // The test host has no GPUs: every h100.8x is out-of-stock, and counts.
    Daemon daemon(
        "quotas:\n"
        "  project: {instances: 6, filesystems: 3, filesystem_bytes: 3Gi}\n"
        "  region: {instances: 10}\n");
    daemon.start();
    auto first = createProject(daemon.port(), "quota-a");
    auto second = createProject(daemon.port(), "quota-b");

    for (int i = 0; i < 6; ++i) {
        auto type = i % 2 == 0 ? "cpu.small" : "h100.8x";
        auto created = postInProject(daemon, first, "/instances",
                                     json{{"name", "vm-" + std::to_string(i)}, {"type", type}}.dump());
        REQUIRE_MESSAGE(created.status == 201, created.body);
        if (i % 2 == 1) {
            CHECK(json::parse(created.body).value("state", "") == "out-of-stock");
        }
    }
    checkQuotaRefusal(postInProject(daemon, first, "/instances", R"({"name":"vm-6","type":"cpu.small"})"),
                      "quotas.project.instances");
    CHECK(listed(daemon, first, "/instances") == 6);

    // The other project has its own quota, but the region holds 10 in all.
    for (int i = 0; i < 4; ++i) {
        auto created = postInProject(daemon, second, "/instances",
                                     json{{"name", "b-" + std::to_string(i)}, {"type", "cpu.small"}}.dump());
        REQUIRE_MESSAGE(created.status == 201, created.body);
    }
    checkQuotaRefusal(postInProject(daemon, second, "/instances", R"({"name":"b-4","type":"cpu.small"})"),
                      "quotas.region.instances");
    CHECK(listed(daemon, second, "/instances") == 4);

    // Filesystems: 1Gi and 2Gi fit 3Gi; one more byte's worth does not, whatever the count.
    REQUIRE(postInProject(daemon, first, "/filesystems", R"({"name":"one","size":"1Gi"})").status == 201);
    REQUIRE(postInProject(daemon, first, "/filesystems", R"({"name":"two","size":"2Gi"})").status == 201);
    checkQuotaRefusal(postInProject(daemon, first, "/filesystems", R"({"name":"three","size":"1Gi"})"),
                      "quotas.project.filesystem_bytes");
    CHECK(listed(daemon, first, "/filesystems") == 2);
    REQUIRE(postInProject(daemon, second, "/filesystems", R"({"name":"a","size":"1Gi"})").status == 201);
    REQUIRE(postInProject(daemon, second, "/filesystems", R"({"name":"b","size":"1Gi"})").status == 201);
    REQUIRE(postInProject(daemon, second, "/filesystems", R"({"name":"c","size":"512Mi"})").status == 201);
    checkQuotaRefusal(postInProject(daemon, second, "/filesystems", R"({"name":"d","size":"1Mi"})"),
                      "quotas.project.filesystems");
    CHECK(listed(daemon, second, "/filesystems") == 3);
}

// Instances over real HTTP against libvirt's test driver (test:///default, in the
// daemon's own process): the whole lifecycle, 409s, 400s naming the field, scoping.
#include <doctest/doctest.h>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

// base64 of "#cloud-config\nruncmd: [touch /tmp/marker]\n"
const std::string kUserData = "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFt0b3VjaCAvdG1wL21hcmtlcl0K";

HttpResponse post(Daemon& daemon, const std::string& project, const std::string& path,
                  const std::string& body) {
    return httpRequest(daemon.port(), "POST", kBase + path, inProject(project, true), body);
}

HttpResponse act(Daemon& daemon, const std::string& project, const std::string& id,
                 const std::string& action) {
    return httpRequest(daemon.port(), "POST", kBase + "/instances/" + id + "/actions/" + action,
                       inProject(project));
}

}  // namespace

TEST_CASE("instances API: create → running → stop → start → delete, with 202/204 and 409s") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "team");
    auto created =
        post(daemon, project, "/instances",
             R"({"name":"web-1","type":"cpu.small","userData":")" + kUserData + R"(","tags":{"env":"dev"}})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    auto instance = json::parse(created.body);
    CHECK(instance.at("state") == "creating");
    CHECK(instance.at("image") == "image://ubuntu22.04");  // the default
    CHECK(instance.at("ip").is_null());
    CHECK(instance.at("ephemeral") == false);
    CHECK(instance.at("tags").at("env") == "dev");
    std::string id = instance.at("id");

    auto running = waitForState(daemon.port(), project, id, "running");
    REQUIRE(running.at("state") == "running");
    auto withIp =
        pollInstance(daemon.port(), project, id, [](const json& b) { return !b.at("ip").is_null(); });
    CHECK(withIp.at("ip").is_string());

    auto again = act(daemon, project, id, "start");
    CHECK(again.status == 409);
    CHECK(json::parse(again.body).at("message").get<std::string>().find("running") != std::string::npos);

    auto stop = act(daemon, project, id, "stop");
    REQUIRE(stop.status == 202);
    CHECK(json::parse(stop.body).at("state") == "stopping");
    CHECK(waitForState(daemon.port(), project, id, "stopped").at("ip").is_null());
    CHECK(act(daemon, project, id, "stop").status == 409);

    REQUIRE(act(daemon, project, id, "start").status == 202);
    waitForState(daemon.port(), project, id, "running");

    auto listed = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    REQUIRE(listed.status == 200);
    CHECK(json::parse(listed.body).size() == 1);

    // A project that owns an instance cannot go.
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + project, bearer(Daemon::kOperatorToken))
              .status == 409);

    auto removed = httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project));
    CHECK(removed.status == 204);
    // Again: 204 while it is still being deleted, 404 once it is gone (the test driver is fast).
    auto repeated =
        httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project)).status;
    CHECK((repeated == 204 || repeated == 404));
    auto gone = pollInstance(daemon.port(), project, id, [](const json& b) { return b.is_null(); });
    CHECK(gone.is_null());
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + project, bearer(Daemon::kOperatorToken))
              .status == 204);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("instances API: bad input is 400 naming the field and creates nothing") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "team");
    struct Case {
        std::string body;
        std::string field;
    };
    const Case cases[] = {
        {R"({"type":"cpu.small"})", "name"},
        {R"({"name":"a"})", "type"},
        {R"({"name":"Bad Name","type":"cpu.small"})", "name"},
        {R"({"name":"a","type":"cpu.huge"})", "type"},
        {R"({"name":"a","type":7})", "type"},
        {R"({"name":"a","type":"cpu.small","image":"ubuntu22.04"})", "image"},
        {R"({"name":"a","type":"cpu.small","image":"image://nope"})", "image"},
        {R"({"name":"a","type":"cpu.small","image":"image://../../etc"})", "image"},
        {R"({"name":"a","type":"cpu.small","userData":"not base64!"})", "userData"},
        {R"({"name":"a","type":"cpu.small","userData":"YQ"})", "userData"},
        {R"({"name":"a","type":"cpu.small","ephemeral":"yes"})", "ephemeral"},
        {R"({"name":"a","type":"cpu.small","filesystems":["nope"]})", "filesystems"},
        {R"({"name":"a","type":"cpu.small","tags":{"k":1}})", "tags.k"},
        {R"({"name":"a","type":"cpu.small","gpu":true})", "gpu"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body);
        auto response = post(daemon, project, "/instances", c.body);
        CHECK(response.status == 400);
        CHECK(json::parse(response.body).at("message").get<std::string>().find(c.field) != std::string::npos);
    }
    // userData over the limit (64 KiB decoded by default).
    std::string big(100000, 'A');  // 75,000 bytes decoded
    auto tooBig =
        post(daemon, project, "/instances", R"({"name":"a","type":"cpu.small","userData":")" + big + "\"}");
    CHECK(tooBig.status == 400);
    auto unknownFs =
        post(daemon, project, "/instances",
             R"({"name":"a","type":"cpu.small","filesystems":["6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f"]})");
    CHECK(unknownFs.status == 404);
    auto listed = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    CHECK(json::parse(listed.body).empty());
}

TEST_CASE("instances API: another project's instance is 404 everywhere, GPU types are out-of-stock") {
    Daemon daemon;
    daemon.start();
    auto mine = createProject(daemon.port(), "mine");
    auto theirs = createProject(daemon.port(), "theirs");
    auto created = post(daemon, mine, "/instances", R"({"name":"a","type":"cpu.small"})");
    REQUIRE(created.status == 201);
    std::string id = json::parse(created.body).at("id");
    auto missing = httpRequest(daemon.port(), "GET", kBase + "/instances/" + id, inProject(theirs));
    auto absent = httpRequest(daemon.port(), "GET", kBase + "/instances/6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f",
                              inProject(theirs));
    CHECK(missing.status == 404);
    CHECK(missing.body == absent.body);
    CHECK(act(daemon, theirs, id, "stop").status == 404);
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(theirs)).status == 404);

    auto gpu = post(daemon, mine, "/instances", R"({"name":"train","type":"h100.8x"})");
    REQUIRE(gpu.status == 201);
    CHECK(json::parse(gpu.body).at("state") == "out-of-stock");
    auto capacity = httpRequest(daemon.port(), "GET", kBase + "/capacity", inProject(mine));
    REQUIRE(capacity.status == 200);
    auto items = json::parse(capacity.body);
    REQUIRE(items.size() == 2);
    CHECK(items[1] == json{{"name", "h100.8x"}, {"capacity", 0}});
    CHECK(items[0].at("capacity").get<int>() >= 0);
}

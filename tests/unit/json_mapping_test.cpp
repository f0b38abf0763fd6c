#include <doctest/doctest.h>

#include "json_mapping.hpp"
#include "model/gpu.hpp"
#include "model/instance.hpp"

using namespace gpuhost;
using namespace gpuhost::api;
using nlohmann::json;

TEST_CASE("request bodies: malformed, too deep or not an object → 400 naming body") {
    const std::vector<std::string> bad = {
        "",
        "{",
        "{\"name\": }",
        "{'name': 'x'}",
        "[1, 2]",
        "\"just a string\"",
        "42",
        "null",
        "{\"a\": 1} trailing",
        "{\"name\": \"\xff\"}",  // invalid UTF-8 inside a string
        std::string(10000, '[') + std::string(10000, ']'),
        "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}",
        R"({"name": "a", "name": "b"})",
        R"({"tags": {"k": "1", "k": "2"}, "name": "x"})",
    };
    for (const auto& body : bad) {
        CAPTURE(body.substr(0, 40));
        auto parsed = parseJsonObject(body);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().field == "body");
    }
    // Brackets inside strings do not count as nesting.
    CHECK(parseJsonObject("{\"name\": \"" + std::string(100, '[') + "\"}").ok());
    CHECK(parseJsonObject("{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}").ok());
    // The same key in sibling objects is not a duplicate.
    CHECK(parseJsonObject(R"({"a": {"k": 1}, "b": {"k": 2}, "c": [{"k": 1}, {"k": 2}]})").ok());
}

TEST_CASE("create project: fields are typed, required, validated, and unknown ones rejected") {
    struct Case {
        const char* body;
        const char* field;
    };
    const std::vector<Case> cases = {
        {R"({})", "name"},
        {R"({"name": 5})", "name"},
        {R"({"name": null})", "name"},
        {R"({"name": ["a"]})", "name"},
        {R"({"name": ""})", "name"},
        {R"({"name": "ok", "tags": []})", "tags"},
        {R"({"name": "ok", "tags": "env=dev"})", "tags"},
        {R"({"name": "ok", "tags": {"env": 1}})", "tags.env"},
        {R"({"name": "ok", "tags": {"bad key": "v"}})", "tags"},
        {R"({"name": "ok", "extra": true})", "extra"},
        {R"({"Name": "ok"})", "Name"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body);
        auto body = parseJsonObject(c.body);
        REQUIRE(body.ok());
        auto request = parseCreateProject(*body);
        REQUIRE_FALSE(request.ok());
        CHECK(request.error().field == c.field);
        CHECK(request.error().message.find(c.field) != std::string::npos);
    }
    auto good = parseCreateProject(json{{"name", "ML team"}, {"tags", {{"env", "prod"}}}});
    REQUIRE(good.ok());
    CHECK(good->name == "ML team");
    CHECK(good->tags.at("env") == "prod");
}

TEST_CASE("projects and instance types map to the API's JSON shape") {
    model::Project project{
        .id = *model::Uuid::parse("2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11"),
        .name = "team",
        .tags = {{"env", "dev"}},
        .state = model::ProjectState::Active,
        .createdAt = model::Timestamp{std::chrono::milliseconds{1795779079123}},
    };
    CHECK(toJson(project) == json::parse(R"({"id": "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11", "name": "team",
        "tags": {"env": "dev"}, "state": "active", "createdAt": "2026-11-27T11:31:19.123Z"})"));
    model::InstanceType type{.name = "h100.8x",
                             .cpu = 192,
                             .memoryBytes = 1800ull << 30,
                             .gpuCount = 8,
                             .gpuModel = "H100-SXM5-80GB"};
    CHECK(toJson(type) == json::parse(R"({"name": "h100.8x", "cpu": 192, "memory": "1800Gi", "gpu_count": 8,
        "gpu_model": "H100-SXM5-80GB"})"));
}

TEST_CASE("timestamps round-trip") {
    model::Timestamp t{std::chrono::milliseconds{1795779079123}};
    auto text = model::formatTimestamp(t);
    CHECK(text == "2026-11-27T11:31:19.123Z");
    auto back = model::parseTimestamp(text);
    REQUIRE(back.has_value());
    CHECK(*back == t);
    CHECK_FALSE(model::parseTimestamp("2026-13-01T00:00:00.000Z").has_value());
    CHECK_FALSE(model::parseTimestamp("yesterday").has_value());
}

// renderInstance writes text directly (a DOM was too slow for 10,000): it must print
// exactly what a json DOM of the same fields prints, hostile strings included.
TEST_CASE("instances: the direct JSON writer prints what a DOM of the same fields prints") {
    auto domOf = [](const model::Instance& i) {
        auto filesystems = json::array();
        for (const auto& id : i.filesystems) {
            filesystems.push_back(id.str());
        }
        auto gpus = json::array();
        for (const auto& gpu : i.gpus) {
            gpus.push_back(gpu.str());
        }
        json out{{"id", i.id.str()},
                 {"name", i.name},
                 {"type", i.type},
                 {"image", i.image},
                 {"state", model::nameOf(i.state)},
                 {"ip", i.ip ? json(*i.ip) : json(nullptr)},
                 {"ephemeral", i.ephemeral},
                 {"preemptible", i.preemptible},
                 {"filesystems", filesystems},
                 {"tags", i.tags},
                 {"createdAt", model::formatTimestamp(i.createdAt)},
                 {"host", i.host.empty() ? json(nullptr) : json(i.host)},
                 {"gpus", gpus}};
        if (!i.reason.empty()) {
            out["reason"] = i.reason;
        }
        if (i.owner) {
            out["owner"] = {{"clusterId", i.owner->clusterId.str()},
                            {"clusterKind", i.owner->clusterKind},
                            {"clusterName", i.owner->clusterName},
                            {"nodePool", i.owner->nodePool.empty() ? json(nullptr) : json(i.owner->nodePool)},
                            {"role", i.owner->role},
                            {"index", i.owner->index}};
        }
        return out;
    };
    model::Instance plain;
    plain.id = model::Uuid::random();
    plain.name = "vm-1";
    plain.type = "cpu.small";
    plain.image = "image://ubuntu22.04";
    model::Instance busy = plain;
    busy.id = model::Uuid::random();
    busy.ephemeral = true;
    busy.preemptible = true;
    busy.state = model::InstanceState::Failed;
    busy.ip = "192.168.122.7";
    busy.host = "hgx-a";
    busy.reason =
        "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " bad \xff utf-8 é ✓";
    busy.tags = {{"k\"1", "v\n1"}, {"team", "ml</x>"}, {"zz", ""}};
    busy.filesystems = {model::Uuid::random(), model::Uuid::random()};
    busy.gpus = {*model::PciAddress::parse("0000:18:00.0"), *model::PciAddress::parse("0000:2a:00.0")};
    busy.createdAt = model::Timestamp(std::chrono::milliseconds(1795000000123));
    model::Instance worker = plain;
    worker.id = model::Uuid::random();
    worker.name = "hpc-gpu-pool-3";
    worker.owner =
        model::InstanceOwner{model::Uuid::random(), "slurm", "hpc \"quoted\"", "gpu-pool", "worker", 3};
    model::Instance controller = worker;
    controller.owner =
        model::InstanceOwner{model::Uuid::random(), "kubernetes", "prod", "", "control-plane", 0};
    for (const auto& instance : {plain, busy, worker, controller}) {
        CAPTURE(instance.id.str());
        auto expected = dump(domOf(instance));
        CHECK(renderInstance(instance) == expected);
        CHECK(renderInstances({instance, instance}) == "[" + expected + "," + expected + "]");
    }
    CHECK(renderInstances({}) == "[]");
}

TEST_CASE("instances: owner is shown for cluster members only and cannot be set by a client") {
    model::Instance user;
    user.id = model::Uuid::random();
    user.name = "mine";
    CHECK_FALSE(json::parse(renderInstance(user)).contains("owner"));
    auto member = user;
    auto cluster = model::Uuid::random();
    member.owner = model::InstanceOwner{cluster, "slurm", "hpc", "gpu-pool", "worker", 2};
    auto shown = json::parse(renderInstance(member)).at("owner");
    CHECK(shown == json{{"clusterId", cluster.str()},
                        {"clusterKind", "slurm"},
                        {"clusterName", "hpc"},
                        {"nodePool", "gpu-pool"},
                        {"role", "worker"},
                        {"index", 2}});
    // A client echoing a GET body back, or trying to pass as a cluster member: 400 naming owner.
    for (const auto* body : {R"({"name": "vm", "type": "cpu.small", "owner": {"clusterId": "x"}})",
                             R"({"name": "vm", "type": "cpu.small", "owner": "hpc"})",
                             R"({"owner": {}, "name": "vm", "type": "cpu.small"})"}) {
        CAPTURE(body);
        auto request = parseCreateInstance(*parseJsonObject(body));
        REQUIRE_FALSE(request.ok());
        CHECK(request.error().code == model::ErrorCode::InvalidArgument);
        CHECK(request.error().field == "owner");
        CHECK(request.error().message.find("read-only") != std::string::npos);
    }
    CHECK(parseCreateInstance(*parseJsonObject(R"({"name": "vm", "type": "cpu.small"})")).ok());
    // null is "no owner", what a user instance has (as null is "absent" for every optional field).
    CHECK(
        parseCreateInstance(*parseJsonObject(R"({"name": "vm", "type": "cpu.small", "owner": null})")).ok());
}

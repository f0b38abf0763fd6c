// The Slurm routes through the pure request handler, over FakeClusterApi: parsing (every
// bad input a 400 naming its field), the rendered shapes, and what each route answers.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "unit/cluster_api_fixture.hpp"

using namespace gpuhost;
using namespace gpuhost::api;
using nlohmann::json;
using test::api_fixture::kOperator;

namespace {

const std::string kBase = "/api/v1alpha1/slurm";
// From ssh-keygen (OpenSSH 9.2), as in cluster_user_test.cpp.
const std::string kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJJoULgdfKfyqWkDw9EMQCiIzAiyMMVaQeNW2yvIdQ9u";
const std::string kEcdsa256 =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNp/4DBzx+GqcDNMY7se4aEzhEG0dVVCav87/aaeqegF3/"
    "m96XGgxzs7RwCG5pNr2Rh+ZEYo7ppSHVYMZ7ec3U8=";

struct SlurmFixture : test::ClusterRoutesFixture {
    SlurmFixture() : ClusterRoutesFixture(kBase) {}

    std::string createCluster(const std::string& name = "hpc") {
        return ok(http::verb::post, "/clusters", minimal(name), http::status::created).at("id");
    }

    static json minimal(const std::string& name = "hpc") {
        return {{"name", name}, {"nodePools", {{{"name", "gpu"}, {"type", "cpu.small"}, {"count", 2}}}}};
    }
};

using test::checkRejected;

}  // namespace

TEST_CASE("slurm: create answers 201 with the cluster, and the request reaches the service whole") {
    SlurmFixture f;
    json body = {{"name", "hpc"},
                 {"version", "23.11.4"},
                 {"controllerType", "cpu.small"},
                 {"loginNodes", {{"count", 2}, {"type", "cpu.small"}}},
                 {"nodePools",
                  {{{"name", "gpu"}, {"type", "cpu.small"}, {"count", 2}, {"partitions", {"batch", "gpu"}}},
                   {{"name", "cpu"}, {"type", "cpu.small"}, {"count", 0}}}}};
    auto cluster = f.ok(http::verb::post, "/clusters", body, http::status::created);
    CHECK(cluster.at("name") == "hpc");
    CHECK(cluster.at("version") == "23.11.4");
    CHECK(cluster.at("status") == json{{"type", "PENDING"}, {"details", ""}});
    CHECK(cluster.at("controller").is_null());
    CHECK(cluster.at("loginNodes") == json::array());
    CHECK(cluster.at("createdAt").is_string());
    std::set<std::string> keys;
    for (const auto& [key, value] : cluster.items()) {
        keys.insert(key);
    }
    CHECK(keys == std::set<std::string>{"id", "name", "version", "status", "controller", "loginNodes",
                                        "nodePools", "createdAt"});
    REQUIRE(cluster.at("nodePools").size() == 2);
    CHECK(cluster.at("nodePools")[0] == json{{"name", "gpu"},
                                             {"clusterId", cluster.at("id")},
                                             {"type", "cpu.small"},
                                             {"count", 2},
                                             {"partitions", {"batch", "gpu"}},
                                             {"nodes", json::array()}});
    REQUIRE(f.clusters.lastCreate);
    CHECK(f.clusters.lastCreate->controllerType == "cpu.small");
    CHECK(f.clusters.lastCreate->loginCount == 2);
    CHECK(f.clusters.lastCreate->loginType == "cpu.small");
    CHECK(f.clusters.lastCreate->pools[1] == model::ClusterPool{"cpu", "cpu.small", 0, {}});
    // Same name again: the service's Conflict is a 409.
    CHECK(f.call(http::verb::post, "/clusters", body).result() == http::status::conflict);
}

TEST_CASE("slurm: every bad create body is a 400 naming the field") {
    SlurmFixture f;
    auto pools = [](json pool) { return json{{"name", "hpc"}, {"nodePools", {pool}}}; };
    json gpu = {{"name", "gpu"}, {"type", "cpu.small"}, {"count", 1}};
    auto with = [&](const std::string& key, json value) {
        json pool = gpu;
        pool[key] = std::move(value);
        return pools(pool);
    };
    struct Case {
        json body;
        std::string field;
    };
    auto base = SlurmFixture::minimal();
    auto set = [&](const std::string& key, json value) {
        json body = base;
        body[key] = std::move(value);
        return body;
    };
    std::vector<Case> cases = {
        {set("name", "Bad_Name"), "name"},
        {set("name", 7), "name"},
        {json{{"nodePools", base.at("nodePools")}}, "name"},
        {json{{"name", "hpc"}}, "nodePools"},
        {set("nodePools", json::array()), "nodePools"},
        {set("nodePools", "gpu"), "nodePools"},
        {set("nodePools", {gpu, gpu}), "nodePools[1].name"},
        {set("nodePools", {gpu, 3}), "nodePools[1]"},
        {with("partitions", {"DEFAULT"}), "nodePools[0].partitions[0]"},
        {with("partitions", {"batch", "ALL"}), "nodePools[0].partitions[1]"},
        {with("partitions", {"batch", "batch"}), "nodePools[0].partitions[1]"},
        {with("partitions", {1}), "nodePools[0].partitions[0]"},
        {with("partitions", "batch"), "nodePools[0].partitions"},
        {with("count", -1), "nodePools[0].count"},
        {with("count", 1.5), "nodePools[0].count"},
        {with("count", 2.0), "nodePools[0].count"},
        {with("count", 1025), "nodePools[0].count"},
        {with("count", 1e30), "nodePools[0].count"},
        {with("count", "2"), "nodePools[0].count"},
        {with("name", "GPU"), "nodePools[0].name"},
        {with("type", ""), "nodePools[0].type"},
        {with("size", 1), "nodePools[0].size"},
        {pools(json{{"name", "gpu"}, {"type", "cpu.small"}}), "nodePools[0].count"},
        {set("tags", json::object()), "tags"},
        {set("version", "latest"), "version"},
        {set("version", "23"), "version"},
        {set("version", "23.11.4.1"), "version"},
        {set("version", "23..11"), "version"},
        {set("version", 23.11), "version"},
        {set("controllerType", ""), "controllerType"},
        {set("loginNodes", 2), "loginNodes"},
        {set("loginNodes", json::object()), "loginNodes.count"},
        {set("loginNodes", {{"count", 17}}), "loginNodes.count"},
        {set("loginNodes", {{"count", 1}, {"type", 5}}), "loginNodes.type"},
        {set("loginNodes", {{"count", 1}, {"zone", "a"}}), "loginNodes.zone"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body.dump());
        checkRejected(f.call(http::verb::post, "/clusters", c.body), c.field);
    }
    CHECK(f.clusters.views.empty());
    for (std::string version : {"22.05", "22.05.8", "23.11"}) {
        CAPTURE(version);
        CHECK(f.call(http::verb::post, "/clusters", set("version", version)).result() ==
              http::status::created);
        f.clusters.views.clear();
    }
    CHECK(f.call(http::verb::post, "/clusters", set("loginNodes", {{"count", 16}})).result() ==
          http::status::created);
}

TEST_CASE("slurm: get, list and delete - a Kubernetes cluster or a bad id is not found here") {
    SlurmFixture f;
    auto id = f.createCluster("hpc");
    auto other = f.createCluster("other");
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("name") == "hpc");
    CHECK(f.ok(http::verb::get, "/clusters", nullptr, http::status::ok).size() == 2);
    checkRejected(f.call(http::verb::get, "/clusters/not-a-uuid"), "id");
    CHECK(f.call(http::verb::get, "/clusters/" + model::Uuid::random().str()).result() ==
          http::status::not_found);

    f.clusters.views.at(*model::Uuid::parse(other)).cluster.kind = model::ClusterKind::Kubernetes;
    CHECK(f.call(http::verb::get, "/clusters/" + other).result() == http::status::not_found);
    CHECK(f.call(http::verb::delete_, "/clusters/" + other).result() == http::status::not_found);
    CHECK(f.ok(http::verb::get, "/clusters", nullptr, http::status::ok).size() == 1);

    auto removed = f.call(http::verb::delete_, "/clusters/" + id);
    CHECK(removed.result() == http::status::no_content);
    CHECK(removed.body().empty());
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("status").at("type") ==
          "DELETING");
}

TEST_CASE("slurm: nodes render with every field, absent ones as null") {
    SlurmFixture f;
    auto id = f.createCluster();
    auto& view = f.clusters.views.at(*model::Uuid::parse(id));
    auto instance = model::Uuid::random();
    view.status = {model::ClusterPhase::Ready, "all nodes up"};
    view.version = "23.11.4";
    model::ClusterNode worker{"gpu-0",   instance,      "running",   {"IDLE", "RESERVED"},
                              "23.11.4", "203.0.113.5", "10.0.0.5",  {"batch"},
                              "maint",   std::nullopt,  std::nullopt};
    model::ClusterNode controller{"controller", model::Uuid::random(), "creating",   {"PROVISIONING"},
                                  "",           std::nullopt,          std::nullopt, {},
                                  std::nullopt, std::nullopt,          std::nullopt};
    view.pools[0].nodes = {worker};
    view.controller = controller;
    view.loginNodes = {controller};
    auto cluster = f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok);
    CHECK(cluster.at("status") == json{{"type", "READY"}, {"details", "all nodes up"}});
    CHECK(cluster.at("nodePools")[0].at("nodes")[0] == json{{"name", "gpu-0"},
                                                            {"instanceID", instance.str()},
                                                            {"instanceState", "running"},
                                                            {"states", {"IDLE", "RESERVED"}},
                                                            {"slurmdVersion", "23.11.4"},
                                                            {"publicIP", "203.0.113.5"},
                                                            {"privateIP", "10.0.0.5"},
                                                            {"partitions", {"batch"}},
                                                            {"reservation", "maint"},
                                                            {"reason", nullptr}});
    CHECK(cluster.at("controller").at("slurmdVersion").is_null());
    CHECK(cluster.at("controller").at("publicIP").is_null());
    CHECK(cluster.at("loginNodes") == json::array({{{"name", "controller"},
                                                    {"publicIP", nullptr},
                                                    {"privateIP", nullptr},
                                                    {"instanceID", controller.instanceId.str()}}}));
}

TEST_CASE("slurm: node-pool routes, the gpuhost extensions included") {
    SlurmFixture f;
    auto id = f.createCluster("hpc");
    auto other = f.createCluster("other");
    auto pools = f.ok(http::verb::get, "/clusters/" + id + "/node-pools", nullptr, http::status::ok);
    REQUIRE(pools.size() == 1);
    CHECK(pools[0].at("name") == "gpu");
    CHECK(
        f.ok(http::verb::get, "/clusters/" + id + "/node-pools/gpu", nullptr, http::status::ok).at("count") ==
        2);
    CHECK(f.call(http::verb::get, "/clusters/" + id + "/node-pools/cpu").result() == http::status::not_found);
    checkRejected(f.call(http::verb::get, "/clusters/" + id + "/node-pools/Bad_Pool"), "pool");

    json cpu = {{"name", "cpu"}, {"type", "cpu.small"}, {"count", 1}, {"partitions", {"batch"}}};
    auto added = f.ok(http::verb::post, "/clusters/" + id + "/node-pools", cpu, http::status::created);
    CHECK(added.at("name") == "cpu");
    CHECK(added.at("clusterId") == id);
    CHECK(added.at("partitions") == json{"batch"});
    CHECK(f.call(http::verb::post, "/clusters/" + id + "/node-pools", cpu).result() ==
          http::status::conflict);
    checkRejected(f.call(http::verb::post, "/clusters/" + id + "/node-pools", {{"name", "x"}, {"type", "t"}}),
                  "count");
    checkRejected(f.call(http::verb::post, "/clusters/" + id + "/node-pools",
                         {{"name", "x"}, {"type", "t"}, {"count", 1}, {"partitions", {"DEFAULT"}}}),
                  "partitions[0]");
    checkRejected(f.call(http::verb::post, "/clusters/" + id + "/node-pools",
                         {{"name", "X"}, {"type", "t"}, {"count", 1}}),
                  "name");

    auto scaled = f.ok(http::verb::patch, "/clusters/" + id + "/node-pools/cpu", {{"count", 4}},
                       http::status::accepted);
    CHECK(scaled.at("count") == 4);
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("status").at("type") ==
          "SCALING");
    checkRejected(f.call(http::verb::patch, "/clusters/" + id + "/node-pools/cpu", {{"count", -2}}), "count");
    checkRejected(
        f.call(http::verb::patch, "/clusters/" + id + "/node-pools/cpu", {{"count", 1}, {"type", "t"}}),
        "type");
    CHECK(f.call(http::verb::patch, "/clusters/" + id + "/node-pools/none", {{"count", 1}}).result() ==
          http::status::not_found);

    // Every pool of every Slurm cluster of the project, each with its cluster's id.
    auto all = f.ok(http::verb::get, "/node-pools", nullptr, http::status::ok);
    std::multiset<std::pair<std::string, std::string>> seen;
    for (const auto& pool : all) {
        seen.emplace(pool.at("clusterId"), pool.at("name"));
    }
    CHECK(seen ==
          std::multiset<std::pair<std::string, std::string>>{{id, "gpu"}, {id, "cpu"}, {other, "gpu"}});

    CHECK(f.call(http::verb::delete_, "/clusters/" + id + "/node-pools/cpu").result() ==
          http::status::no_content);
    CHECK(f.call(http::verb::delete_, "/clusters/" + id + "/node-pools/cpu").result() ==
          http::status::not_found);
    CHECK(f.ok(http::verb::get, "/clusters/" + id + "/node-pools", nullptr, http::status::ok).size() == 1);
}

TEST_CASE("slurm: users: add 201, duplicate 409, PUT replaces keys and keeps sudo, delete 204") {
    SlurmFixture f;
    auto id = f.createCluster();
    const std::string users = "/clusters/" + id + "/users";
    auto alice =
        f.ok(http::verb::post, users,
             {{"username", "alice"}, {"sshKeys", {"  " + kEd25519 + " alice@laptop  "}}, {"sudo", true}},
             http::status::created);
    CHECK(alice == json{{"username", "alice"},
                        {"sshKeys", {kEd25519 + " alice@laptop"}},
                        {"sudo", true},
                        {"uid", model::kFirstClusterUid},
                        {"applied", false}});
    CHECK(f.call(http::verb::post, users, {{"username", "alice"}}).result() == http::status::conflict);
    auto bob = f.ok(http::verb::post, users, {{"username", "bob"}}, http::status::created);
    CHECK(bob.at("sudo") == false);
    CHECK(bob.at("sshKeys") == json::array());
    CHECK(f.ok(http::verb::get, users, nullptr, http::status::ok).size() == 2);
    CHECK(f.ok(http::verb::get, users + "/bob", nullptr, http::status::ok).at("uid") ==
          model::kFirstClusterUid + 1);

    auto updated = f.ok(http::verb::put, users + "/alice", {{"sshKeys", {kEcdsa256}}}, http::status::ok);
    CHECK(updated.at("sshKeys") == json{kEcdsa256});
    CHECK(updated.at("sudo") == true);
    updated = f.ok(http::verb::put, users + "/alice", {{"sudo", false}}, http::status::ok);
    CHECK(updated.at("sshKeys") == json{kEcdsa256});
    CHECK(updated.at("sudo") == false);
    CHECK(f.ok(http::verb::put, users + "/alice", {{"sshKeys", json::array()}}, http::status::ok)
              .at("sshKeys") == json::array());
    CHECK(f.call(http::verb::put, users + "/carol", json::object()).result() == http::status::not_found);

    CHECK(f.call(http::verb::delete_, users + "/alice").result() == http::status::no_content);
    CHECK(f.call(http::verb::get, users + "/alice").result() == http::status::not_found);
    CHECK(f.call(http::verb::get, "/clusters/" + model::Uuid::random().str() + "/users").result() ==
          http::status::not_found);
}

TEST_CASE("slurm: bad user bodies and usernames are a 400 naming the field") {
    SlurmFixture f;
    auto id = f.createCluster();
    const std::string users = "/clusters/" + id + "/users";
    checkRejected(f.call(http::verb::post, users, {{"username", "Alice"}}), "username");
    checkRejected(f.call(http::verb::post, users, {{"username", "root"}}), "username");
    checkRejected(f.call(http::verb::post, users, {{"username", "slurm"}}), "username");
    checkRejected(f.call(http::verb::post, users, json::object()), "username");
    checkRejected(f.call(http::verb::post, users, {{"username", "alice"}, {"sshKeys", {"not a key"}}}),
                  "sshKeys[0]");
    checkRejected(f.call(http::verb::post, users, {{"username", "alice"}, {"sshKeys", {kEd25519, 5}}}),
                  "sshKeys[1]");
    checkRejected(f.call(http::verb::post, users, {{"username", "alice"}, {"sshKeys", kEd25519}}), "sshKeys");
    checkRejected(f.call(http::verb::post, users, {{"username", "alice"}, {"sudo", "yes"}}), "sudo");
    checkRejected(f.call(http::verb::post, users, {{"username", "alice"}, {"uid", 0}}), "uid");
    checkRejected(f.call(http::verb::put, users + "/alice", {{"username", "alice"}}), "username");
    checkRejected(f.call(http::verb::put, users + "/alice", {{"sshKeys", {"ssh-dss AAAA"}}}), "sshKeys[0]");
    for (std::string name : {"Alice", "root", "a.b"}) {
        CAPTURE(name);
        checkRejected(f.call(http::verb::get, users + "/" + name), "username");
        checkRejected(f.call(http::verb::put, users + "/" + name, {{"sudo", true}}), "username");
        checkRejected(f.call(http::verb::delete_, users + "/" + name), "username");
    }
    CHECK(f.ok(http::verb::get, users, nullptr, http::status::ok).empty());
}

TEST_CASE("slurm: capabilities list slurm when its handlers exist and the daemon has the service") {
    SlurmFixture f;
    auto capabilities = [&] {
        auto response = f.send(http::verb::get, "/api/v1alpha1/capabilities", kOperator, {}, f.project);
        REQUIRE(response.result() == http::status::ok);
        std::set<std::string> names;
        for (const auto& name : json::parse(response.body().str())) {
            names.insert(name.get<std::string>());
        }
        return names;
    };
    CHECK(capabilities().contains("slurm"));
    CHECK(capabilities().contains("kubernetes"));  // the same service serves both kinds
    // A cluster service without the Slurm kind: its routes answer 501 (before the body is
    // read) and the feature is not listed.
    f.clusters.offered = {model::ClusterKind::Kubernetes};
    CHECK_FALSE(capabilities().contains("slurm"));
    CHECK(f.call(http::verb::get, "/clusters").result() == http::status::not_implemented);
    CHECK(f.send(http::verb::post, kBase + "/clusters", kOperator, "{", f.project).result() ==
          http::status::not_implemented);
    f.clusters.offered = {model::ClusterKind::Slurm, model::ClusterKind::Kubernetes};
    // Without the service every Slurm route answers 501, and the feature is not listed.
    f.context.clusters = nullptr;
    CHECK_FALSE(capabilities().contains("slurm"));
    CHECK_FALSE(capabilities().contains("kubernetes"));
    for (auto [method, path] :
         {std::pair{http::verb::get, std::string("/clusters")},
          {http::verb::post, "/clusters"},
          {http::verb::get, "/node-pools"},
          {http::verb::get, "/clusters/" + model::Uuid::random().str() + "/users/alice"}}) {
        CAPTURE(path);
        auto response = f.call(method, path, method == http::verb::post ? SlurmFixture::minimal() : json());
        CHECK(response.result() == http::status::not_implemented);
    }
}

// POST /kubernetes/clusters bodies: what reaches the service, what is left to the region,
// and every bad input a 400 naming its field.
#include "unit/kubernetes_api_fixture.hpp"

using namespace gpuhost;
using namespace gpuhost::test::kubernetes_api;

TEST_CASE("kubernetes api: create answers 201 with every field, the request reaches the service normalized") {
    KubernetesFixture f;
    json body = {
        {"name", "prod"},
        {"version", "v1.31.2"},
        {"podCIDRBlock", "10.244.0.0/16"},
        {"serviceCIDRBlock", "10.96.0.0/12"},
        {"controlPlaneType", "cpu.small"},
        {"defaultNodePool", {{"create", true}, {"name", "gpu"}, {"type", "cpu.small"}, {"count", 2}}}};
    auto cluster = f.ok(http::verb::post, "/clusters", body, http::status::created);
    CHECK(keysOf(cluster) == std::set<std::string>{"id", "name", "version", "podCIDRBlock",
                                                   "serviceCIDRBlock", "status", "nodePools",
                                                   "certificateAuthorityData", "endpoint", "createdAt"});
    CHECK(cluster.at("name") == "prod");
    CHECK(cluster.at("version") == "1.31.2");
    CHECK(cluster.at("podCIDRBlock") == "10.244.0.0/16");
    CHECK(cluster.at("serviceCIDRBlock") == "10.96.0.0/12");
    CHECK(cluster.at("status") == json{{"type", "PENDING"}, {"details", ""}});
    CHECK(cluster.at("certificateAuthorityData").is_null());
    CHECK(cluster.at("endpoint").is_null());
    CHECK(cluster.at("createdAt").is_string());
    CHECK(cluster.at("nodePools") == json::array({{{"name", "gpu"},
                                                   {"clusterId", cluster.at("id")},
                                                   {"type", "cpu.small"},
                                                   {"count", 2},
                                                   {"nodes", json::array()}}}));
    REQUIRE(f.clusters.lastCreate);
    CHECK(f.clusters.lastCreate->version == "1.31.2");
    CHECK(f.clusters.lastCreate->controllerType == "cpu.small");
    CHECK(f.clusters.lastCreate->network == model::KubernetesNetwork{"10.244.0.0/16", "10.96.0.0/12"});
    CHECK(f.clusters.lastCreate->pools == std::vector<model::ClusterPool>{{"gpu", "cpu.small", 2, {}}});
    CHECK(f.call(http::verb::post, "/clusters", body).result() == http::status::conflict);
}

TEST_CASE("kubernetes api: what a create leaves out is left to the region, or means no pool") {
    KubernetesFixture f;
    auto create = [&](json body) {
        f.clusters.views.clear();
        auto cluster = f.ok(http::verb::post, "/clusters", body, http::status::created);
        REQUIRE(f.clusters.lastCreate);
        return cluster;
    };
    auto bare = create({{"name", "a"}, {"version", "1.32.5"}});
    CHECK(bare.at("podCIDRBlock").is_null());
    CHECK(bare.at("serviceCIDRBlock").is_null());
    CHECK(bare.at("nodePools") == json::array());
    CHECK_FALSE(f.clusters.lastCreate->network);
    CHECK(f.clusters.lastCreate->controllerType.empty());
    CHECK(f.clusters.lastCreate->pools.empty());

    // One block given: the other is "" for the kind to fill.
    create({{"name", "a"}, {"version", "1.32.5"}, {"serviceCIDRBlock", "172.16.0.0/16"}});
    CHECK(f.clusters.lastCreate->network == model::KubernetesNetwork{"", "172.16.0.0/16"});
    create({{"name", "a"}, {"version", "1.32.5"}, {"podCIDRBlock", "10.0.0.0/8"}});
    CHECK(f.clusters.lastCreate->network == model::KubernetesNetwork{"10.0.0.0/8", ""});

    // create: false needs nothing else and reads nothing else.
    for (json pool :
         {json{{"create", false}}, json{{"create", false}, {"name", "Not_A_Name"}, {"count", -1}}}) {
        CAPTURE(pool.dump());
        create({{"name", "a"}, {"version", "1.32.5"}, {"defaultNodePool", pool}});
        CHECK(f.clusters.lastCreate->pools.empty());
    }
    create({{"name", "a"},
            {"version", "1.32.5"},
            {"defaultNodePool", {{"name", "w"}, {"type", "t"}, {"count", 0}}}});
    CHECK(f.clusters.lastCreate->pools == std::vector<model::ClusterPool>{{"w", "t", 0, {}}});
    // The edges of the accepted prefixes.
    create({{"name", "a"},
            {"version", "1.32.5"},
            {"podCIDRBlock", "10.0.0.0/22"},
            {"serviceCIDRBlock", "10.1.0.0/28"}});
    CHECK(f.clusters.lastCreate->network == model::KubernetesNetwork{"10.0.0.0/22", "10.1.0.0/28"});
}

TEST_CASE("kubernetes api: every bad create body is a 400 naming the field") {
    KubernetesFixture f;
    auto base = KubernetesFixture::minimal();
    auto set = [&](const std::string& key, json value) {
        json body = base;
        body[key] = std::move(value);
        return body;
    };
    auto pool = [&](const std::string& key, json value) {
        json body = base;
        body["defaultNodePool"][key] = std::move(value);
        return body;
    };
    struct Case {
        json body;
        std::string field;
    };
    std::vector<Case> cases = {
        {set("name", "Bad_Name"), "name"},
        {set("name", 7), "name"},
        {json{{"version", "1.31.2"}}, "name"},
        {json{{"name", "prod"}}, "version"},
        {set("version", "1.31"), "version"},
        {set("version", "v1.31.2-rc.1"), "version"},
        {set("version", "01.31.2"), "version"},
        {set("version", "latest"), "version"},
        {set("version", ""), "version"},
        {set("version", 1.31), "version"},
        {set("podCIDRBlock", "10.244.0.0/33"), "podCIDRBlock"},
        {set("podCIDRBlock", "10.244.1.0/16"), "podCIDRBlock"},
        {set("podCIDRBlock", "::/0"), "podCIDRBlock"},
        {set("podCIDRBlock", "10.0.0.0/4"), "podCIDRBlock"},
        {set("podCIDRBlock", "10.0.0.0/7"), "podCIDRBlock"},
        {set("podCIDRBlock", "10.0.0.0/23"), "podCIDRBlock"},
        {set("podCIDRBlock", "010.0.0.0/8"), "podCIDRBlock"},
        {set("podCIDRBlock", 10), "podCIDRBlock"},
        {set("serviceCIDRBlock", "10.96.0.0/11"), "serviceCIDRBlock"},
        {set("serviceCIDRBlock", "10.96.0.0/29"), "serviceCIDRBlock"},
        {set("serviceCIDRBlock", "10.96.0.0"), "serviceCIDRBlock"},
        {set("serviceCIDRBlock", ""), "serviceCIDRBlock"},
        {json{{"name", "prod"},
              {"version", "1.31.2"},
              {"podCIDRBlock", "10.0.0.0/8"},
              {"serviceCIDRBlock", "10.96.0.0/12"}},
         "serviceCIDRBlock"},
        {json{{"name", "prod"},
              {"version", "1.31.2"},
              {"podCIDRBlock", "10.96.0.0/16"},
              {"serviceCIDRBlock", "10.96.0.0/12"}},
         "serviceCIDRBlock"},
        {set("defaultNodePool", 3), "defaultNodePool"},
        {set("defaultNodePool", json::object()), "defaultNodePool.name"},
        {set("defaultNodePool", {{"create", true}}), "defaultNodePool.name"},
        {set("defaultNodePool", {{"create", "yes"}}), "defaultNodePool.create"},
        {set("defaultNodePool", {{"create", false}, {"size", 1}}), "defaultNodePool.size"},
        {pool("count", 1025), "defaultNodePool.count"},
        {pool("count", -1), "defaultNodePool.count"},
        {pool("count", 2.0), "defaultNodePool.count"},
        {pool("count", "2"), "defaultNodePool.count"},
        {pool("name", "GPU"), "defaultNodePool.name"},
        {pool("type", ""), "defaultNodePool.type"},
        {pool("partitions", {"batch"}), "defaultNodePool.partitions"},
        {set("controlPlaneType", ""), "controlPlaneType"},
        {set("controllerType", "cpu.small"), "controllerType"},
        {set("nodePools", json::array()), "nodePools"},
        {set("tags", json::object()), "tags"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.body.dump());
        checkRejected(f.call(http::verb::post, "/clusters", c.body), c.field);
    }
    CHECK(f.clusters.views.empty());
}

TEST_CASE("kubernetes api: the service's errors about a new cluster name the fields of the body") {
    KubernetesFixture f;
    struct Case {
        std::string spec;
        std::string body;
    };
    for (const auto& c : std::vector<Case>{{"nodePools[0].type", "defaultNodePool.type"},
                                           {"nodePools", "defaultNodePool"},
                                           {"controllerType", "controlPlaneType"},
                                           {"name", "name"},
                                           {"podCIDRBlock", "podCIDRBlock"}}) {
        CAPTURE(c.spec);
        f.clusters.createError = model::Error::invalid(c.spec, "is wrong");
        auto response = f.call(http::verb::post, "/clusters", KubernetesFixture::minimal());
        CHECK(response.result() == http::status::bad_request);
        CHECK(json::parse(response.body().str()) ==
              json{{"field", c.body}, {"message", c.body + ": is wrong"}});
    }
}

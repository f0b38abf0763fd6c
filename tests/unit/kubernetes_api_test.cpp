// The Kubernetes routes over FakeClusterApi: the rendered shapes, 404 before anything else
// for another project's cluster, upgrades, node pools, the kubeconfig and capabilities.
#include "unit/kubernetes_api_fixture.hpp"

using namespace gpuhost;
using namespace gpuhost::test::kubernetes_api;

TEST_CASE("kubernetes api: get, list, delete - a Slurm cluster, another project's or a bad id is not found") {
    KubernetesFixture f;
    auto id = f.createCluster("prod");
    auto slurm = f.createCluster("hpc");
    f.view(slurm).cluster.kind = model::ClusterKind::Slurm;
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("name") == "prod");
    CHECK(f.ok(http::verb::get, "/clusters", nullptr, http::status::ok).size() == 1);
    checkRejected(f.call(http::verb::get, "/clusters/not-a-uuid"), "id");

    // Another project sees neither cluster, whatever the body says: 404 before it is read.
    auto other = f.createProject("other");
    auto elsewhere = [&](http::verb method, const std::string& path, const json& body = nullptr) {
        return f.send(method, kBase + path, kOperator, body.is_null() ? std::string() : body.dump(), other)
            .result();
    };
    for (const auto& cluster : {id, slurm, model::Uuid::random().str()}) {
        CAPTURE(cluster);
        const std::string at = "/clusters/" + cluster;
        CHECK(elsewhere(http::verb::get, at) == http::status::not_found);
        CHECK(elsewhere(http::verb::patch, at, {{"version", "bad"}}) == http::status::not_found);
        CHECK(elsewhere(http::verb::delete_, at) == http::status::not_found);
        CHECK(elsewhere(http::verb::get, at + "/kubeconfig") == http::status::not_found);
        CHECK(elsewhere(http::verb::get, at + "/node-pools") == http::status::not_found);
        CHECK(elsewhere(http::verb::post, at + "/node-pools", {{"name", "X"}}) == http::status::not_found);
        CHECK(elsewhere(http::verb::patch, at + "/node-pools/gpu", {{"count", -1}}) ==
              http::status::not_found);
        CHECK(elsewhere(http::verb::delete_, at + "/node-pools/gpu") == http::status::not_found);
    }
    CHECK(elsewhere(http::verb::get, "/clusters") == http::status::ok);
    CHECK(f.call(http::verb::get, "/clusters/" + slurm).result() == http::status::not_found);
    CHECK(f.call(http::verb::get, "/clusters/" + slurm + "/kubeconfig").result() == http::status::not_found);

    auto removed = f.call(http::verb::delete_, "/clusters/" + id);
    CHECK(removed.result() == http::status::no_content);
    CHECK(removed.body().empty());
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("status").at("type") ==
          "DELETING");
    // A cluster being deleted takes no more changes.
    CHECK(f.call(http::verb::patch, "/clusters/" + id, {{"version", "1.32.0"}}).result() ==
          http::status::conflict);
}

TEST_CASE("kubernetes api: nodes render the API server's facts, or what their VM says before it lists them") {
    KubernetesFixture f;
    auto id = f.createCluster();
    auto& view = f.view(id);
    view.status = {model::ClusterPhase::Ready, ""};
    view.version = "v1.31.2";
    view.certificateAuthority = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";
    view.endpoint = "https://10.0.0.10:6443";
    auto instance = model::Uuid::random();
    model::KubernetesNodeFacts facts{
        .state = "Ready",
        .unschedulable = true,
        .kubeletVersion = "v1.31.2",
        .createdAt = "2025-11-04T10:00:00Z",
        .conditions = {{"Ready", "True", "2025-11-04T10:05:00Z", "2025-11-04T10:01:00Z", "KubeletReady",
                        "kubelet is posting ready status"}},
        .accelerator = model::NodeAccelerator{"nvidia", "NVIDIA-H100-80GB-HBM3", "580.95.05"},
        .labels = {{"kubernetes.io/hostname", "prod-gpu-0"}},
        .taints = {{"nvidia.com/gpu", "", "NoSchedule"}},
    };
    auto vmOnly = [](std::string name, std::string state) {
        model::ClusterNode node;
        node.name = std::move(name);
        node.instanceState = std::move(state);
        return node;
    };
    auto listed = vmOnly("prod-gpu-0", "running");
    listed.instanceId = instance;
    listed.publicIp = "203.0.113.5";
    listed.privateIp = "10.0.0.5";
    listed.kubernetes = facts;
    view.pools[0].nodes = {listed,
                           vmOnly("prod-gpu-1", "creating"),
                           vmOnly("prod-gpu-2", "starting"),
                           vmOnly("prod-gpu-3", "running"),
                           vmOnly("prod-gpu-4", "stopped"),
                           vmOnly("prod-gpu-5", "error")};

    auto cluster = f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok);
    CHECK(cluster.at("version") == "1.31.2");
    CHECK(cluster.at("certificateAuthorityData") ==
          "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==");
    CHECK(cluster.at("endpoint") == "https://10.0.0.10:6443");
    const auto& nodes = cluster.at("nodePools")[0].at("nodes");
    REQUIRE(nodes.size() == 6);
    CHECK(nodes[0] ==
          json{{"name", "prod-gpu-0"},
               {"instanceID", instance.str()},
               {"instanceState", "running"},
               {"state", "Ready"},
               {"unschedulable", true},
               {"kubeletVersion", "1.31.2"},
               {"createdAt", "2025-11-04T10:00:00Z"},
               {"publicIP", "203.0.113.5"},
               {"privateIP", "10.0.0.5"},
               {"conditions",
                {{{"type", "Ready"},
                  {"status", "True"},
                  {"lastHeartbeatTime", "2025-11-04T10:05:00Z"},
                  {"lastTransitionTime", "2025-11-04T10:01:00Z"},
                  {"reason", "KubeletReady"},
                  {"message", "kubelet is posting ready status"}}}},
               {"accelerator",
                {{"type", "nvidia"}, {"product", "NVIDIA-H100-80GB-HBM3"}, {"driverVersion", "580.95.05"}}},
               {"labels", {{"kubernetes.io/hostname", "prod-gpu-0"}}},
               {"taints", {{{"key", "nvidia.com/gpu"}, {"value", ""}, {"effect", "NoSchedule"}}}}});
    CHECK(nodes[1] == json{{"name", "prod-gpu-1"},
                           {"instanceID", nullptr},
                           {"instanceState", "creating"},
                           {"state", "Provisioning"},
                           {"unschedulable", false},
                           {"kubeletVersion", nullptr},
                           {"createdAt", nullptr},
                           {"publicIP", nullptr},
                           {"privateIP", nullptr},
                           {"conditions", json::array()},
                           {"accelerator", nullptr},
                           {"labels", json::object()},
                           {"taints", json::array()}});
    std::vector<std::string> states;
    for (const auto& node : nodes) {
        states.push_back(node.at("state"));
    }
    CHECK(states == std::vector<std::string>{"Ready", "Provisioning", "Provisioning", "NotReady", "Unknown",
                                             "Unknown"});
    // A GPU node whose labels name no product or driver.
    view.pools[0].nodes[0].kubernetes->accelerator = model::NodeAccelerator{"nvidia", "", ""};
    CHECK(f.ok(http::verb::get, "/clusters/" + id + "/node-pools/gpu", nullptr, http::status::ok)
              .at("nodes")[0]
              .at("accelerator") ==
          json{{"type", "nvidia"}, {"product", nullptr}, {"driverVersion", nullptr}});
}

TEST_CASE("kubernetes api: PATCH upgrades the version (200 with the cluster), bad bodies name version") {
    KubernetesFixture f;
    auto id = f.createCluster();
    auto upgraded = f.ok(http::verb::patch, "/clusters/" + id, {{"version", "v1.32.0"}}, http::status::ok);
    CHECK(upgraded.at("id") == id);
    CHECK(keysOf(upgraded).contains("nodePools"));
    CHECK(f.view(id).cluster.version == "1.32.0");
    checkRejected(f.call(http::verb::patch, "/clusters/" + id, {{"version", "1.32"}}), "version");
    checkRejected(f.call(http::verb::patch, "/clusters/" + id, {{"version", 1}}), "version");
    checkRejected(f.call(http::verb::patch, "/clusters/" + id, json::object()), "version");
    checkRejected(f.call(http::verb::patch, "/clusters/" + id, {{"version", "1.32.0"}, {"name", "x"}}),
                  "name");
    CHECK(f.view(id).cluster.version == "1.32.0");
    CHECK(f.call(http::verb::patch, "/clusters/" + model::Uuid::random().str(), {{"version", "1.32.0"}})
              .result() == http::status::not_found);
}

TEST_CASE("kubernetes api: node-pool routes, the gpuhost extensions included") {
    KubernetesFixture f;
    auto id = f.createCluster("prod");
    auto other = f.createCluster("other");
    const std::string pools = "/clusters/" + id + "/node-pools";
    CHECK(f.ok(http::verb::get, pools, nullptr, http::status::ok).size() == 1);
    CHECK(f.ok(http::verb::get, pools + "/gpu", nullptr, http::status::ok).at("count") == 2);
    CHECK(f.call(http::verb::get, pools + "/cpu").result() == http::status::not_found);
    checkRejected(f.call(http::verb::get, pools + "/Bad_Pool"), "pool");

    json cpu = {{"name", "cpu"}, {"type", "cpu.small"}, {"count", 1}};
    auto added = f.ok(http::verb::post, pools, cpu, http::status::created);
    CHECK(added == json{{"name", "cpu"},
                        {"clusterId", id},
                        {"type", "cpu.small"},
                        {"count", 1},
                        {"nodes", json::array()}});
    CHECK(f.call(http::verb::post, pools, cpu).result() == http::status::conflict);
    checkRejected(f.call(http::verb::post, pools, {{"name", "x"}, {"type", "t"}}), "count");
    checkRejected(f.call(http::verb::post, pools, {{"name", "x"}, {"type", "t"}, {"count", 1025}}), "count");
    checkRejected(
        f.call(http::verb::post, pools, {{"name", "x"}, {"type", "t"}, {"count", 1}, {"partitions", {"a"}}}),
        "partitions");
    checkRejected(f.call(http::verb::post, pools, {{"name", "X"}, {"type", "t"}, {"count", 1}}), "name");

    auto scaled = f.ok(http::verb::patch, pools + "/cpu", {{"count", 4}}, http::status::accepted);
    CHECK(scaled.at("count") == 4);
    CHECK(f.ok(http::verb::get, "/clusters/" + id, nullptr, http::status::ok).at("status").at("type") ==
          "SCALING");
    checkRejected(f.call(http::verb::patch, pools + "/cpu", {{"count", -2}}), "count");
    checkRejected(f.call(http::verb::patch, pools + "/cpu", {{"count", 1}, {"type", "t"}}), "type");
    CHECK(f.call(http::verb::patch, pools + "/none", {{"count", 1}}).result() == http::status::not_found);

    std::multiset<std::pair<std::string, std::string>> seen;
    for (const auto& pool : f.ok(http::verb::get, "/node-pools", nullptr, http::status::ok)) {
        seen.emplace(pool.at("clusterId"), pool.at("name"));
    }
    CHECK(seen ==
          std::multiset<std::pair<std::string, std::string>>{{id, "gpu"}, {id, "cpu"}, {other, "gpu"}});

    CHECK(f.call(http::verb::delete_, pools + "/cpu").result() == http::status::no_content);
    CHECK(f.call(http::verb::delete_, pools + "/cpu").result() == http::status::not_found);
    CHECK(f.ok(http::verb::get, pools, nullptr, http::status::ok).size() == 1);
}

TEST_CASE("kubernetes api: the kubeconfig is YAML text, 503 until the cluster has an address") {
    KubernetesFixture f;
    auto id = f.createCluster("prod");
    auto response = f.call(http::verb::get, "/clusters/" + id + "/kubeconfig");
    CHECK(response.result() == http::status::ok);
    CHECK(response[http::field::content_type] == "application/yaml");
    CHECK(response.body() == "kubeconfig of prod");
    f.clusters.clientConfigError =
        model::Error{model::ErrorCode::Unavailable, "the control plane has no address yet", {}};
    auto later = f.call(http::verb::get, "/clusters/" + id + "/kubeconfig");
    CHECK(later.result() == http::status::service_unavailable);
    CHECK(later[http::field::content_type] == "application/json");
    CHECK(json::parse(later.body().str()).at("message") == "the control plane has no address yet");
}

TEST_CASE("kubernetes api: capabilities list kubernetes when the daemon offers the kind, else 501") {
    KubernetesFixture f;
    auto id = f.createCluster();
    auto capabilities = [&] {
        auto response = f.send(http::verb::get, "/api/v1alpha1/capabilities", kOperator, {}, f.project);
        REQUIRE(response.result() == http::status::ok);
        std::set<std::string> names;
        for (const auto& name : json::parse(response.body().str())) {
            names.insert(name.get<std::string>());
        }
        return names;
    };
    auto unimplemented = [&] {
        for (auto [method, path] : {std::pair{http::verb::get, std::string("/clusters")},
                                    {http::verb::post, "/clusters"},
                                    {http::verb::get, "/node-pools"},
                                    {http::verb::get, "/clusters/" + id},
                                    {http::verb::get, "/clusters/" + id + "/kubeconfig"}}) {
            CAPTURE(path);
            auto body = method == http::verb::post ? KubernetesFixture::minimal("new") : json();
            CHECK(f.call(method, path, body).result() == http::status::not_implemented);
        }
    };
    CHECK(capabilities().contains("kubernetes"));
    // A cluster service without the Kubernetes kind: the routes are 501 and the feature unlisted.
    f.clusters.offered = {model::ClusterKind::Slurm};
    CHECK_FALSE(capabilities().contains("kubernetes"));
    CHECK(capabilities().contains("slurm"));
    unimplemented();
    // 501 before the body is read, as for a route without a handler.
    CHECK(f.send(http::verb::post, kBase + "/clusters", kOperator, "{\"name\": ", f.project).result() ==
          http::status::not_implemented);
    f.clusters.offered = {model::ClusterKind::Kubernetes};
    CHECK(capabilities().contains("kubernetes"));
    CHECK_FALSE(capabilities().contains("slurm"));
    // No cluster service at all.
    f.context.clusters = nullptr;
    CHECK_FALSE(capabilities().contains("kubernetes"));
    unimplemented();
}

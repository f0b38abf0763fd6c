// The cluster core with the Kubernetes kind over fake hosts, a fake store and fake Kubernetes
// guests: the control plane's and workers' first-boot parts, kubeadm progress read from the
// guests, node states from kubectl, kubeconfigs, token renewal, scale-down without ghosts,
// validation, restart.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "kubernetes_world.hpp"
#include "pki.hpp"
#include "services/kubernetes_progress.hpp"

namespace gpuhost {

using model::ClusterKind;
using model::ClusterPhase;
using model::ClusterPool;
using model::ErrorCode;
using model::InstanceState;
using test::KubernetesWorld;

namespace {

bool hasCommand(const std::vector<std::vector<std::string>>& commands, const std::vector<std::string>& tail) {
    for (const auto& argv : commands) {
        if (argv.size() >= tail.size() && std::equal(tail.begin(), tail.end(), argv.end() - tail.size())) {
            return true;
        }
    }
    return false;
}

std::string storedToken(KubernetesWorld& w, const model::Uuid& id) {
    auto progress = agent::parseProgress(*w.clusterStore.clusterKindState(id));
    REQUIRE(progress.ok());
    return progress->token;
}

}  // namespace

TEST_CASE("a Kubernetes cluster comes up: kubeadm init, workers join, nodes Ready, a kubeconfig for it") {
    KubernetesWorld w;
    auto created = w.create("k8s", {ClusterPool{"cpu", "cpu.small", 2, {}}}, "1.31.2");
    REQUIRE(created.ok());
    CHECK(created->status.phase == ClusterPhase::Pending);
    REQUIRE(created->cluster.network.has_value());
    CHECK(created->cluster.network->podCidr == "10.244.0.0/16");  // the region's defaults
    CHECK(created->cluster.network->serviceCidr == "10.96.0.0/12");
    REQUIRE(created->certificateAuthority.has_value());
    CHECK(created->certificateAuthority->starts_with("-----BEGIN CERTIFICATE-----"));
    auto id = created->cluster.id;

    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    auto members = w.members(id);
    REQUIRE(members.size() == 3);
    const auto* controlPlane = w.member(members, "control-plane");
    REQUIRE(controlPlane != nullptr);
    CHECK(controlPlane->name == "k8s-control-plane");

    // The control plane's first boot runs kubeadm init with the agent's PKI and token; each
    // worker's joins it at the control plane's address.
    auto cpSeed = w.world.host.seed(agent::seedVolumeName(controlPlane->id));
    REQUIRE(cpSeed.has_value());
    CHECK(cpSeed->userData.find("gpuhost-kubernetes-control-plane.cfg") != std::string::npos);
    const auto* worker = w.member(members, "worker", "cpu", 0);
    auto workerSeed = w.world.host.seed(agent::seedVolumeName(worker->id));
    REQUIRE(workerSeed.has_value());
    CHECK(workerSeed->userData.find("gpuhost-kubernetes-worker.cfg") != std::string::npos);

    auto view = w.view(id);
    CHECK(view.version == "1.31.2");
    REQUIRE(view.endpoint.has_value());
    CHECK(*view.endpoint == "https://" + *controlPlane->ip + ":6443");
    REQUIRE(view.pools.size() == 1);
    REQUIRE(view.pools[0].nodes.size() == 2);
    const auto& node = view.pools[0].nodes[0];
    CHECK(node.name == "cpu-0");
    CHECK(node.instanceId == worker->id);
    REQUIRE(node.kubernetes.has_value());
    CHECK(node.kubernetes->state == "Ready");
    CHECK(node.kubernetes->kubeletVersion == "v1.31.2");
    REQUIRE_FALSE(node.kubernetes->conditions.empty());
    CHECK(node.kubernetes->conditions[0].type == "Ready");
    REQUIRE(view.controller.has_value());
    CHECK(view.controller->name == "control-plane");

    // The kubeconfig names the endpoint and carries the cluster CA.
    auto kubeconfig = w.api().clientConfig(w.world.project, ClusterKind::Kubernetes, id);
    REQUIRE(kubeconfig.ok());
    auto yaml = YAML::Load(*kubeconfig);
    CHECK(yaml["clusters"][0]["cluster"]["server"].as<std::string>() == *view.endpoint);
    CHECK_FALSE(yaml["users"][0]["user"]["client-key-data"].as<std::string>().empty());
    // Never through a Slurm route.
    CHECK(w.api().get(w.world.project, ClusterKind::Slurm, id).error().code == ErrorCode::NotFound);

    auto counts = w.clusters->service().countByPhase();
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].kind == "kubernetes_cluster");
    CHECK(counts[0].state == "ready");
}

TEST_CASE("until the API server answers, nodes come from their VMs, and a failed kubeadm init is an ERROR") {
    KubernetesWorld w;
    w.autoInit = false;
    auto created = w.create("slow", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        return v.status.phase == ClusterPhase::Bootstrapping &&
               v.status.details.find("kubeadm init") != std::string::npos;
    });
    auto view = w.view(id);
    REQUIRE(view.pools[0].nodes.size() == 1);
    CHECK_FALSE(view.pools[0].nodes[0].kubernetes.has_value());
    CHECK(view.pools[0].nodes[0].instanceState == "running");
    CHECK(view.pools[0].nodes[0].reason == "the API server has not answered yet");  // Kubernetes' words
    CHECK(w.api().clientConfig(w.world.project, ClusterKind::Kubernetes, id).ok());  // it has an address

    auto all = w.members(id);
    const auto* controlPlane = w.member(all, "control-plane");
    w.guests.fail(w.domainOf(*controlPlane), "/var/lib/gpuhost/kubeadm-init.failed");
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Error; });
    CHECK(w.view(id).status.details.find("fatal errors occurred") != std::string::npos);  // the log's tail
}

TEST_CASE(
    "scale-down cordons, drains and deletes the node before its VM, a blocked drain keeps the VM, delete "
    "leaves nothing") {
    KubernetesWorld w;
    auto created = w.create("sc", {ClusterPool{"cpu", "cpu.small", 2, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    const auto controlPlane = *w.member(w.members(id), "control-plane");
    auto cp = w.domainOf(controlPlane);

    w.guests.blockDrains(cp, true);
    REQUIRE(w.world.await(w.api().scalePool(w.world.project, ClusterKind::Kubernetes, id, "cpu", 1)).ok());
    w.runGuestsUntil(id, [&] { return w.guests.guest(cp).nodes.at("cpu-1").unschedulable; });
    // Held by the disruption budget: cordoned, still listed, its VM still there.
    w.world.waitFor([&] {
        return hasCommand(w.guests.commands(cp), {"drain", "cpu-1", "--ignore-daemonsets",
                                                  "--delete-emptydir-data", "--timeout=120s"});
    });
    CHECK(w.guests.guest(cp).nodes.contains("cpu-1"));
    CHECK(w.members(id).size() == 3);

    w.guests.blockDrains(cp, false);
    w.runGuestsUntil(
        id, [&] { return w.members(id).size() == 2 && w.view(id).status.phase == ClusterPhase::Ready; });
    CHECK_FALSE(w.guests.guest(cp).nodes.contains("cpu-1"));  // no ghost
    CHECK(w.guests.guest(cp).nodes.contains("cpu-0"));

    // Delete: DELETING until every VM is gone, then NotFound, and nothing left in the store.
    REQUIRE(w.world.await(w.api().remove(w.world.project, ClusterKind::Kubernetes, id)).ok());
    w.world.waitFor([&] {
        auto got = w.api().get(w.world.project, ClusterKind::Kubernetes, id);
        return !got.ok() && got.error().code == ErrorCode::NotFound;
    });
    CHECK(w.members(id).empty());
    CHECK(w.clusterStore.loadClusters()->empty());
}

TEST_CASE("a node object with no VM behind it is deleted from the cluster") {
    KubernetesWorld w;
    auto created = w.create("gh", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        INFO(model::nameOf(v.status.phase), ": ", v.status.details);
        return v.status.phase == ClusterPhase::Ready;
    });
    auto all = w.members(id);
    auto cp = w.domainOf(*w.member(all, "control-plane"));
    w.guests.join(cp, "cpu-7", false);  // left over from a VM deleted during a crash
    w.world.waitFor([&] { return !w.guests.guest(cp).nodes.contains("cpu-7"); });
    CHECK(w.guests.guest(cp).nodes.contains("cpu-0"));
}

TEST_CASE("the join token is renewed on the control plane before it expires and survives a restart") {
    auto options = test::testKubernetesOptions();
    options.tokenTtl = std::chrono::seconds(2);  // renewed once a second is gone
    KubernetesWorld w(options);
    auto created = w.create("tk", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    auto first = storedToken(w, id);
    CHECK(kubernetes::isBootstrapToken(first));
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        INFO(model::nameOf(v.status.phase), ": ", v.status.details);
        return v.status.phase == ClusterPhase::Ready;
    });
    auto all = w.members(id);
    auto cp = w.domainOf(*w.member(all, "control-plane"));
    w.world.waitFor([&] { return !w.guests.guest(cp).tokens.empty() && storedToken(w, id) != first; });

    // What is stored was registered first (kubeadm token create), so a joining node's token works.
    auto tokens = w.guests.guest(cp).tokens;
    CHECK(std::find(tokens.begin(), tokens.end(), storedToken(w, id)) != tokens.end());

    w.start();  // a restart reads the stored progress
    REQUIRE(w.world.await(w.api().scalePool(w.world.project, ClusterKind::Kubernetes, id, "cpu", 2)).ok());
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        return v.status.phase == ClusterPhase::Ready && v.pools[0].nodes.size() == 2;
    });
}

TEST_CASE("Kubernetes clusters: versions, blocks and upgrades are checked, errors name the field") {
    KubernetesWorld w;
    auto fieldOf = [&](agent::CreateCluster request) {
        auto result =
            w.world.await(w.api().create(w.world.project, ClusterKind::Kubernetes, std::move(request)));
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::InvalidArgument);
        return result.error().field;
    };
    agent::CreateCluster request;
    request.name = "v";
    request.pools = {ClusterPool{"cpu", "cpu.small", 1, {}}};
    request.version = "1.29.4";  // not offered here
    CHECK(fieldOf(request) == "version");
    request.version = "1.31";
    CHECK(fieldOf(request) == "version");
    request.version = "1.31.2";
    request.network = model::KubernetesNetwork{"192.168.0.0/16", ""};  // the VM network is inside
    CHECK(fieldOf(request) == "podCIDRBlock");
    request.network = model::KubernetesNetwork{"10.0.0.0/8", "10.96.0.0/12"};
    CHECK(fieldOf(request) == "serviceCIDRBlock");
    request.network = model::KubernetesNetwork{"10.244.0.0/16", "10.96.0.1/12"};
    CHECK(fieldOf(request) == "serviceCIDRBlock");
    request.network.reset();
    request.pools = {ClusterPool{"cpu", "no.such.type", 1, {}}};
    CHECK(fieldOf(request) == "nodePools[0].type");
    CHECK(w.clusterStore.loadClusters()->empty());  // nothing stored

    // A cluster without pools is a control plane alone (defaultNodePool.create: false).
    request.pools.clear();
    auto alone = w.world.await(w.api().create(w.world.project, ClusterKind::Kubernetes, request));
    REQUIRE(alone.ok());
    auto id = alone->cluster.id;
    auto upgrade = [&](const std::string& version) {
        return w.world.await(w.api().upgrade(w.world.project, ClusterKind::Kubernetes, id, version));
    };
    CHECK(upgrade("1.30.9").error().field == "version");  // no downgrade
    CHECK(upgrade("1.33.0").error().field == "version");  // one minor at a time
    CHECK(upgrade("1.31.2").ok());                        // the same version changes nothing
    CHECK(w.view(id).cluster.version == "1.31.2");
    CHECK(upgrade("v1.32.0").ok());
    CHECK(w.view(id).cluster.version == "1.32.0");
    CHECK(upgrade("1.33.0").error().code == ErrorCode::Conflict);  // the first roll has not moved yet
}

}  // namespace gpuhost

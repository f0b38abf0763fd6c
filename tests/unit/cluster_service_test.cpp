// The cluster core with the Slurm kind over fake hosts, a fake store and fake Slurm guests:
// admission as a group, bootstrap through the guest agent, node states, scale, users,
// delete, restart.
#include <doctest/doctest.h>

#include "cluster_world.hpp"
#include "fakes/hgx_devices.hpp"

namespace gpuhost {

using model::ClusterKind;
using model::ClusterPhase;
using model::ClusterPool;
using model::InstanceState;
using test::ClusterWorld;

namespace {

const std::string kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

std::string domainOf(const model::Instance& member) {
    return drivers::domainName(member.id);
}

bool hasNode(ClusterWorld& w, const model::Instance& controller, const std::string& node) {
    return w.guests.guest(domainOf(controller)).nodes.contains(node);
}

}  // namespace

TEST_CASE("a Slurm cluster comes up: controller configured through the guest agent, nodes idle, READY") {
    ClusterWorld w;
    auto created = w.create("hpc", {ClusterPool{"cpu", "cpu.small", 2, {"batch"}}});
    REQUIRE(created.ok());
    CHECK(created->status.phase == ClusterPhase::Pending);
    CHECK(created->version == "22.05");
    auto id = created->cluster.id;

    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    auto members = w.members(id);
    REQUIRE(members.size() == 3);
    const auto* controller = w.member(members, "controller");
    REQUIRE(controller != nullptr);
    CHECK(controller->name == "hpc-controller");
    CHECK(w.member(members, "worker", "cpu", 1)->name == "hpc-cpu-1");

    // slurm.conf names the controller's address; slurmctld was started.
    auto guest = w.guests.guest(domainOf(*controller));
    CHECK(guest.slurmctld);
    REQUIRE(guest.files.contains("/etc/slurm/slurm.conf"));
    CHECK(guest.files["/etc/slurm/slurm.conf"].find("SlurmctldHost=hpc-controller(192.0.2.10)") !=
          std::string::npos);
    CHECK(guest.files["/etc/slurm/slurm.conf"].find("PartitionName=batch") != std::string::npos);

    // Each node's first boot got the munge key and its slurmd drop-in pointing at the controller.
    const auto* node = w.member(members, "worker", "cpu", 0);
    auto seed = w.world.host.seed(agent::seedVolumeName(node->id));
    REQUIRE(seed.has_value());
    CHECK(seed->userData.find("gpuhost-slurm-node.cfg") != std::string::npos);

    auto view = w.view(id);
    CHECK(view.version == "22.05.8");
    REQUIRE(view.pools.size() == 1);
    REQUIRE(view.pools[0].nodes.size() == 2);
    CHECK(view.pools[0].nodes[0].name == "cpu-0");
    CHECK(view.pools[0].nodes[0].states == std::vector<std::string>{"IDLE"});
    CHECK(view.pools[0].nodes[0].slurmdVersion == "22.05.8");
    CHECK(view.pools[0].nodes[0].instanceId == node->id);
    REQUIRE(view.loginNodes.size() == 1);  // the controller is the login node
    CHECK(view.loginNodes[0].instanceId == controller->id);

    auto counts = w.clusters->service().countByPhase();
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].kind == "slurm_cluster");
    CHECK(counts[0].state == "ready");
    CHECK(counts[0].count == 1);

    // Members belong to the cluster: the user cannot delete one.
    auto refused =
        w.world.await(w.world.service.act(w.world.project, node->id, model::InstanceAction::Delete));
    CHECK(refused.error().code == model::ErrorCode::Conflict);
}

TEST_CASE("node states are reported from the VMs until slurmctld answers") {
    ClusterWorld w;
    auto created = w.create("early", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto view = w.view(created->cluster.id);
    for (const auto& pool : view.pools) {
        for (const auto& node : pool.nodes) {
            CHECK(node.states == std::vector<std::string>{"UNKNOWN"});
            CHECK(node.reason.has_value());
        }
    }
    CHECK(view.status.phase != ClusterPhase::Ready);
}

TEST_CASE(
    "scale up and down: new nodes join, leaving nodes are drained and removed from slurmctld before their "
    "VMs go") {
    ClusterWorld w;
    auto created = w.create("sc", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });

    auto up = w.world.await(w.api().scalePool(w.world.project, ClusterKind::Slurm, id, "cpu", 3));
    REQUIRE(up.ok());
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        return v.status.phase == ClusterPhase::Ready && v.pools[0].nodes.size() == 3;
    });
    auto controller = *w.member(w.members(id), "controller");
    CHECK(hasNode(w, controller, "cpu-2"));

    auto down = w.world.await(w.api().scalePool(w.world.project, ClusterKind::Slurm, id, "cpu", 1));
    REQUIRE(down.ok());
    w.runGuestsUntil(
        id, [&] { return w.members(id).size() == 2 && w.view(id).status.phase == ClusterPhase::Ready; });
    CHECK(hasNode(w, controller, "cpu-0"));
    CHECK_FALSE(hasNode(w, controller, "cpu-1"));  // no ghost: deleted from slurmctld
    CHECK_FALSE(hasNode(w, controller, "cpu-2"));
    bool drained = false;
    for (const auto& argv : w.guests.commands(domainOf(controller))) {
        drained = drained || (argv.size() > 3 && argv[1] == "update" && argv[2] == "nodename=cpu-2" &&
                              argv[3] == "state=drain");
    }
    CHECK(drained);
}

TEST_CASE("a node slurmctld lists with no VM behind it is removed") {
    ClusterWorld w;
    auto created = w.create("gh", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    auto controller = *w.member(w.members(id), "controller");
    w.guests.registerNode(domainOf(controller), "cpu-7", "down");
    w.world.waitFor([&] { return !hasNode(w, controller, "cpu-7"); });
    CHECK(hasNode(w, controller, "cpu-0"));
}

TEST_CASE("users are applied on every node with one uid, replaced and removed") {
    ClusterWorld w;
    auto created = w.create("us", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });

    auto added = w.world.await(w.api().addUser(w.world.project, ClusterKind::Slurm, id,
                                               model::ClusterUser{"alice", {kKey}, true, 0}));
    REQUIRE(added.ok());
    CHECK(added->user.uid == model::kFirstClusterUid);
    auto duplicate = w.world.await(
        w.api().addUser(w.world.project, ClusterKind::Slurm, id, model::ClusterUser{"alice", {}, false, 0}));
    CHECK(duplicate.error().code == model::ErrorCode::Conflict);

    w.runGuestsUntil(id, [&] {
        auto user = w.api().user(w.world.project, ClusterKind::Slurm, id, "alice");
        return user.ok() && user->applied;
    });
    for (const auto& member : w.members(id)) {
        auto guest = w.guests.guest(domainOf(member));
        CHECK(guest.accounts["alice"] == model::kFirstClusterUid);
        CHECK(guest.files["/home/alice/.ssh/authorized_keys"] == kKey + "\n");
        CHECK(guest.files["/etc/sudoers.d/gpuhost-alice"] == "alice ALL=(ALL:ALL) NOPASSWD: ALL\n");
    }

    // PUT without sudo keeps it; new keys replace the old ones.
    model::ClusterUserUpdate update;
    update.sshKeys = std::vector<std::string>{};
    auto updated =
        w.world.await(w.api().updateUser(w.world.project, ClusterKind::Slurm, id, "alice", update));
    REQUIRE(updated.ok());
    CHECK(updated->user.sudo);
    CHECK(updated->user.sshKeys.empty());
    w.runGuestsUntil(id, [&] {
        return w.guests.guest(domainOf(w.members(id).front()))
            .files["/home/alice/.ssh/authorized_keys"]
            .empty();
    });

    REQUIRE(w.world.await(w.api().removeUser(w.world.project, ClusterKind::Slurm, id, "alice")).ok());
    w.runGuestsUntil(id, [&] {
        for (const auto& member : w.members(id)) {
            if (w.guests.guest(domainOf(member)).accounts.contains("alice")) {
                return false;
            }
        }
        return true;
    });
    CHECK(w.api().user(w.world.project, ClusterKind::Slurm, id, "alice").error().code ==
          model::ErrorCode::NotFound);
    // Accounts the agent did not make (slurm, a user's own bob) were never touched.
    for (const auto& member : w.members(id)) {
        for (const auto& argv : w.guests.commands(domainOf(member))) {
            CHECK_FALSE((argv.front() == "userdel" && argv.back() != "alice"));
        }
    }
}

TEST_CASE("delete: DELETING until every VM is gone, then 404 and no row") {
    ClusterWorld w;
    auto created = w.create("del", {ClusterPool{"cpu", "cpu.small", 2, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.members(id).size() == 3; });
    REQUIRE(w.world.await(w.api().remove(w.world.project, ClusterKind::Slurm, id)).ok());
    auto deleting = w.api().get(w.world.project, ClusterKind::Slurm, id);
    if (deleting) {
        CHECK(deleting->status.phase == ClusterPhase::Deleting);
    }
    w.world.waitFor([&] { return !w.api().get(w.world.project, ClusterKind::Slurm, id).ok(); });
    CHECK(w.members(id).empty());
    CHECK(w.world.host.listManagedDomains()->empty());
    CHECK(w.clusterStore.loadClusters()->empty());
    // Another kind's route never sees a Slurm cluster.
    auto again = w.create("del", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(again.ok());
    CHECK(w.api().get(w.world.project, ClusterKind::Kubernetes, again->cluster.id).error().code ==
          model::ErrorCode::NotFound);
}

TEST_CASE("bad specs are refused naming the field, and nothing is stored") {
    ClusterWorld w;
    auto unknownType = w.create("bad", {ClusterPool{"cpu", "nope", 1, {}}});
    CHECK(unknownType.error().field == "nodePools[0].type");
    auto tooMany = w.create("bad", {ClusterPool{"cpu", "cpu.small", 9, {}}});
    CHECK(tooMany.error().field == "nodePools[0].count");
    auto keyword = w.create("bad", {ClusterPool{"cpu", "cpu.small", 1, {"ALL"}}});
    CHECK(keyword.error().field == "nodePools[0].partitions[0]");
    auto twice =
        w.create("bad", {ClusterPool{"cpu", "cpu.small", 1, {}}, ClusterPool{"cpu", "cpu.small", 1, {}}});
    CHECK(twice.error().field == "nodePools[1].name");
    auto none = w.create("bad", {});
    CHECK(none.error().field == "nodePools");
    auto longName = w.create(std::string(40, 'a'), {ClusterPool{std::string(30, 'b'), "cpu.small", 1, {}}});
    CHECK(longName.error().field == "name");
    CHECK(w.clusterStore.loadClusters()->empty());
    REQUIRE(w.create("taken", {ClusterPool{"cpu", "cpu.small", 1, {}}}).ok());
    CHECK(w.create("taken", {ClusterPool{"cpu", "cpu.small", 1, {}}}).error().code ==
          model::ErrorCode::Conflict);
}

TEST_CASE("a GPU pool that does not fit leaves the whole cluster out of stock, holding no GPU") {
    ClusterWorld w({{"gpu-0", test::hgxResources(), test::hgxH100Devices()}});
    auto created = w.create("big", {ClusterPool{"gpu", "h100.8x", 2, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.world.waitFor([&] { return w.view(id).status.phase == ClusterPhase::OutOfStock; });
    for (const auto& member : w.members(id)) {
        CHECK(member.state == InstanceState::OutOfStock);
        CHECK(member.gpus.empty());
    }
}

TEST_CASE("after a restart the cluster machinery finds its clusters and finishes what was started") {
    ClusterWorld w;
    auto created = w.create("rs", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    // A scale to 2 acknowledged just before a crash: the spec is stored, nothing else happened.
    auto stored = w.clusterStore.loadClusters();
    REQUIRE(stored.ok());
    auto spec = stored->front();
    spec.pools[0].count = 2;
    REQUIRE(w.clusterStore.updateCluster(spec).ok());
    w.start();
    w.runGuestsUntil(id, [&] {
        auto v = w.view(id);
        return v.status.phase == ClusterPhase::Ready && v.pools[0].nodes.size() == 2;
    });
    CHECK(w.members(id).size() == 3);
}

}  // namespace gpuhost

namespace gpuhost {

TEST_CASE("separate login nodes: their first boot brings slurm.conf with the controller's address") {
    ClusterWorld w;
    agent::CreateCluster request;
    request.name = "lg";
    request.loginCount = 1;
    request.pools = {ClusterPool{"cpu", "cpu.small", 1, {}}};
    auto created = w.world.await(w.api().create(w.world.project, ClusterKind::Slurm, request));
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    auto members = w.members(id);
    REQUIRE(members.size() == 3);
    const auto* login = w.member(members, "login");
    REQUIRE(login != nullptr);
    CHECK(login->name == "lg-login");
    auto seed = w.world.host.seed(agent::seedVolumeName(login->id));
    REQUIRE(seed.has_value());
    CHECK(seed->userData.find("gpuhost-slurm-login.cfg") != std::string::npos);
    auto view = w.view(id);
    REQUIRE(view.loginNodes.size() == 1);
    CHECK(view.loginNodes[0].instanceId == login->id);
    CHECK(view.loginNodes[0].name == "login-0");
    REQUIRE(view.controller.has_value());
    CHECK(view.controller->instanceId != login->id);
}

TEST_CASE("pools are added and removed through the spec, a cluster keeps at least one") {
    ClusterWorld w;
    auto created = w.create("pl", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    auto added = w.world.await(w.api().addPool(w.world.project, ClusterKind::Slurm, id,
                                               ClusterPool{"more", "cpu.small", 1, {"extra"}}));
    REQUIRE(added.ok());
    CHECK(added->pools.size() == 2);
    auto twice = w.world.await(
        w.api().addPool(w.world.project, ClusterKind::Slurm, id, ClusterPool{"more", "cpu.small", 1, {}}));
    CHECK(twice.error().code == model::ErrorCode::Conflict);
    auto badType = w.world.await(
        w.api().addPool(w.world.project, ClusterKind::Slurm, id, ClusterPool{"gpu", "nope", 1, {}}));
    CHECK(badType.error().field == "type");
    w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
    auto controller = *w.member(w.members(id), "controller");
    CHECK(w.guests.guest(domainOf(controller)).files["/etc/slurm/slurm.conf"].find("PartitionName=extra") !=
          std::string::npos);
    REQUIRE(w.world.await(w.api().removePool(w.world.project, ClusterKind::Slurm, id, "more")).ok());
    w.runGuestsUntil(
        id, [&] { return w.members(id).size() == 2 && w.view(id).status.phase == ClusterPhase::Ready; });
    CHECK_FALSE(hasNode(w, controller, "more-0"));
    CHECK(w.world.await(w.api().removePool(w.world.project, ClusterKind::Slurm, id, "cpu")).error().code ==
          model::ErrorCode::Conflict);
    CHECK(w.world.await(w.api().removePool(w.world.project, ClusterKind::Slurm, id, "nope")).error().code ==
          model::ErrorCode::NotFound);
}

}  // namespace gpuhost

// Cluster members: group admission (all or nothing, GPUs included), the owner's rules in
// the public API, group removal and member notifications.
#include <doctest/doctest.h>

#include <mutex>

#include "fakes/hgx_devices.hpp"
#include "instance_world.hpp"

using namespace gpuhost;
using model::InstanceAction;
using model::InstanceState;
using test::World;

namespace {

std::vector<agent::MemberRequest> pool(const model::Uuid& cluster, const std::string& type, unsigned count,
                                       const std::string& pool = "gpu") {
    std::vector<agent::MemberRequest> members;
    for (unsigned i = 0; i < count; ++i) {
        agent::MemberRequest member;
        member.request.name = "c1-" + pool + "-" + std::to_string(i);
        member.request.type = type;
        member.owner = model::InstanceOwner{cluster, "slurm", "c1", pool, "worker", i};
        members.push_back(std::move(member));
    }
    return members;
}

std::vector<test::FakeHost> hgxHosts(unsigned count) {
    std::vector<test::FakeHost> hosts;
    for (unsigned i = 0; i < count; ++i) {
        hosts.push_back({"gpu-" + std::to_string(i), test::hgxResources(), test::hgxH100Devices()});
    }
    return hosts;
}

struct Recorder final : agent::MemberObserver {
    std::mutex mutex;
    std::vector<std::pair<model::Uuid, InstanceState>> changes;
    std::vector<model::Uuid> gone;
    void memberChanged(const model::Instance& member) override {
        std::lock_guard lock(mutex);
        changes.emplace_back(member.id, member.state);
    }
    void memberGone(const model::Uuid& member, const model::InstanceOwner&) override {
        std::lock_guard lock(mutex);
        gone.push_back(member);
    }
    bool sawRunning(const model::Uuid& id) {
        std::lock_guard lock(mutex);
        return std::find(changes.begin(), changes.end(), std::make_pair(id, InstanceState::Running)) !=
               changes.end();
    }
    std::size_t goneCount() {
        std::lock_guard lock(mutex);
        return gone.size();
    }
};

}  // namespace

TEST_CASE("groups: a 4 x h100.8x pool fits as a whole on four HGX hosts, one member per host") {
    World w(hgxHosts(4));
    auto cluster = model::Uuid::random();
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "h100.8x-big", 4)));
    REQUIRE(group.ok());
    REQUIRE(group->size() == 4);
    std::set<std::string> hosts;
    for (const auto& member : *group) {
        CHECK(member.state == InstanceState::Creating);
        CHECK(member.gpus.size() == 8);
        CHECK(member.owner->clusterId == cluster);
        hosts.insert(member.host);
        CHECK(w.store.find(member.id).has_value());  // durable before the reply
    }
    CHECK(hosts.size() == 4);
    for (const auto& member : *group) {
        w.waitForState(member.id, InstanceState::Running);
    }
}

TEST_CASE("groups: a CPU member beside GPU members that cannot fit is out-of-stock naming the GPU type") {
    World w;  // no GPUs at all
    auto mixed = pool(model::Uuid::random(), "cpu.small", 1, "cpu");
    auto gpus = pool(mixed.front().owner.clusterId, "h100.8x", 2);
    mixed.insert(mixed.end(), gpus.begin(), gpus.end());
    auto refused = w.await(w.service.createGroup(w.project, std::move(mixed)));
    REQUIRE(refused.ok());
    CHECK(refused->front().state == InstanceState::OutOfStock);
    // The reason names the type that does not fit, so the CPU member does not seem to need GPUs.
    CHECK_MESSAGE(refused->front().reason.find("as a whole: h100.8x: ") != std::string::npos,
                  refused->front().reason);
}

TEST_CASE("groups: a pool that does not fit as a whole holds no GPU: every member out-of-stock, with why") {
    World w(hgxHosts(3));
    auto user = w.create("solo", "h100.1x");  // one GPU taken: only two whole hosts left free
    REQUIRE(user.ok());
    auto cluster = model::Uuid::random();
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "h100.8x-big", 3)));
    REQUIRE(group.ok());
    REQUIRE(group->size() == 3);
    for (const auto& member : *group) {
        CHECK(member.state == InstanceState::OutOfStock);
        CHECK(member.gpus.empty());
        CHECK(member.host.empty());
        CHECK(member.reason.find("as a whole") != std::string::npos);
    }
    // Nothing was taken: two 8-GPU instances still fit.
    auto a = w.create("a", "h100.8x-big");
    auto b = w.create("b", "h100.8x-big");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->state == InstanceState::Creating);
    CHECK(b->state == InstanceState::Creating);
}

TEST_CASE(
    "groups: a name taken within the cluster stores nothing, and user instances never collide with members") {
    World w;
    auto cluster = model::Uuid::random();
    auto user = w.create("c1-cpu-0");
    REQUIRE(user.ok());
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "cpu.small", 2, "cpu")));
    REQUIRE(group.ok());  // the member c1-cpu-0 and the user's c1-cpu-0 live in different scopes
    auto again = w.await(w.service.createGroup(w.project, pool(cluster, "cpu.small", 3, "cpu")));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == model::ErrorCode::Conflict);
    CHECK(w.service.members(cluster).size() == 2);  // none of the three was added
    auto userAgain = w.create("c1-cpu-1");          // a member's name is still free for users
    CHECK(userAgain.ok());
}

TEST_CASE(
    "groups: members show their owner, and start, stop and delete through the API are 409 naming the "
    "cluster") {
    World w;
    auto cluster = model::Uuid::random();
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "cpu.small", 1, "cpu")));
    REQUIRE(group.ok());
    auto id = group->front().id;
    w.waitForState(id, InstanceState::Running);
    auto listed = w.service.list(w.project);
    REQUIRE(listed.size() == 1);
    REQUIRE(listed.front().owner.has_value());
    CHECK(listed.front().owner->clusterName == "c1");
    for (auto action : {InstanceAction::Stop, InstanceAction::Start, InstanceAction::Delete}) {
        auto refused = w.await(w.service.act(w.project, id, action));
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().code == model::ErrorCode::Conflict);
        CHECK(refused.error().message.find("slurm cluster c1") != std::string::npos);
        CHECK(refused.error().message.find(cluster.str()) != std::string::npos);
    }
    CHECK(w.stateOf(id) == InstanceState::Running);
}

TEST_CASE(
    "groups: owners hear of their members' states, and deleteMembers removes one or all, in one write") {
    World w;
    Recorder recorder;
    w.module.controller().addObserver(recorder);
    auto cluster = model::Uuid::random();
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "cpu.small", 3, "cpu")));
    REQUIRE(group.ok());
    for (const auto& member : *group) {
        w.waitForState(member.id, InstanceState::Running);
        w.waitFor([&] { return recorder.sawRunning(member.id); });
    }
    // Scale down: one member.
    REQUIRE(w.await(w.service.deleteMembers(cluster, {group->back().id})).ok());
    w.waitFor([&] { return w.service.members(cluster).size() == 2; });
    w.waitFor([&] { return recorder.goneCount() == 1; });
    // The whole cluster.
    REQUIRE(w.await(w.service.deleteMembers(cluster)).ok());
    w.waitFor([&] { return w.service.members(cluster).empty(); });
    w.waitFor([&] { return recorder.goneCount() == 3; });
    CHECK(w.host.domainCount() == 0);
    CHECK_FALSE(w.store.find(group->front().id).has_value());
}

TEST_CASE("groups: out-of-stock members are removed as a group too") {
    World w(hgxHosts(1));
    auto cluster = model::Uuid::random();
    auto group = w.await(w.service.createGroup(w.project, pool(cluster, "h100.8x-big", 2)));
    REQUIRE(group.ok());
    CHECK(group->front().state == InstanceState::OutOfStock);
    REQUIRE(w.await(w.service.deleteMembers(cluster)).ok());
    w.waitFor([&] { return w.service.members(cluster).empty(); });
    CHECK_FALSE(w.store.find(group->front().id).has_value());
}

// InstanceService over an in-memory host (tests/fakes): admission, the job queue,
// events, capacity and the reconciler. The libvirt side is covered by the
// integration tier on test:///default and the e2e tier on qemu:///system.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <fstream>
#include <thread>

#include "instance_world.hpp"
#include "log.hpp"

using namespace gpuhost;
using model::InstanceAction;
using model::InstanceState;

using test::World;

TEST_CASE("instances: create → running with a domain, seed and address, stop, start, delete leave nothing") {
    World w;
    auto created = w.create("web-1");
    REQUIRE(created.ok());
    CHECK(created->state == InstanceState::Creating);
    CHECK(w.store.find(created->id)->state == InstanceState::Creating);  // durable before the reply
    w.waitForState(created->id, InstanceState::Running);
    CHECK(w.host.domainCount() == 1);
    CHECK(w.host.volumeCount() == 3);  // base image, root overlay, seed
    w.waitFor([&] { return w.service.get(w.project, created->id)->ip.has_value(); });
    CHECK(*w.service.get(w.project, created->id)->ip == "192.0.2.10");

    auto stopping = w.await(w.service.act(w.project, created->id, InstanceAction::Stop));
    REQUIRE(stopping.ok());
    CHECK(stopping->state == InstanceState::Stopping);
    w.waitForState(created->id, InstanceState::Stopped);
    CHECK_FALSE(w.service.get(w.project, created->id)->ip.has_value());

    REQUIRE(w.await(w.service.act(w.project, created->id, InstanceAction::Start)).ok());
    w.waitForState(created->id, InstanceState::Running);

    auto deleting = w.await(w.service.act(w.project, created->id, InstanceAction::Delete));
    REQUIRE(deleting.ok());
    CHECK(deleting->state == InstanceState::Deleting);
    w.waitFor([&] { return !w.service.get(w.project, created->id).ok(); });
    CHECK(w.host.domainCount() == 0);
    CHECK(w.host.volumeCount() == 1);  // only the shared base image
    CHECK_FALSE(w.store.find(created->id).has_value());
}

TEST_CASE("instances: actions the state forbids are 409, other projects see 404") {
    World w;
    auto created = w.create("web-1");
    REQUIRE(created.ok());
    w.waitForState(created->id, InstanceState::Running);
    auto start = w.await(w.service.act(w.project, created->id, InstanceAction::Start));
    REQUIRE_FALSE(start.ok());
    CHECK(start.error().code == model::ErrorCode::Conflict);
    CHECK(start.error().message.find("running") != std::string::npos);

    auto other = model::Uuid::random();
    CHECK(w.service.get(other, created->id).error().code == model::ErrorCode::NotFound);
    CHECK(w.await(w.service.act(other, created->id, InstanceAction::Delete)).error().code ==
          model::ErrorCode::NotFound);
    CHECK(w.service.list(other).empty());
    CHECK(w.service.list(w.project).size() == 1);

    auto duplicate = w.create("web-1");
    REQUIRE_FALSE(duplicate.ok());
    CHECK(duplicate.error().field == "name");
}

TEST_CASE("instances: bad type, image, userData size and filesystems are refused naming the field") {
    World w;
    auto request = [&](auto change) {
        model::CreateInstance r;
        r.name = "x";
        r.type = "cpu.small";
        change(r);
        return w.await(w.service.create(w.project, r));
    };
    CHECK(request([](auto& r) { r.type = "cpu.huge"; }).error().field == "type");
    CHECK(request([](auto& r) { r.image = "image://nothing"; }).error().field == "image");
    CHECK(request([](auto& r) { r.userData = std::string(1025, 'x'); }).error().field == "userData");
    CHECK(request([](auto& r) { r.filesystems = {model::Uuid::random()}; }).error().field == "filesystems");
    CHECK(w.service.list(w.project).empty());
}

TEST_CASE(
    "instances: a guest that powers off is stopped, one that crashes is error, a vanished domain is error") {
    World w;
    auto a = w.create("a");
    auto b = w.create("b");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    w.waitForState(a->id, InstanceState::Running);
    w.waitForState(b->id, InstanceState::Running);
    w.host.guestChanges(a->id, drivers::PowerState::ShutOff);
    w.waitForState(a->id, InstanceState::Stopped);
    CHECK(w.service.get(w.project, a->id)->reason == "the guest powered off");
    w.host.guestChanges(b->id, drivers::PowerState::Crashed);
    w.waitForState(b->id, InstanceState::Failed);
    // From error, start is the way back.
    REQUIRE(w.await(w.service.act(w.project, b->id, InstanceAction::Start)).ok());
    w.waitForState(b->id, InstanceState::Running);
    REQUIRE(w.host.undefineDomain(drivers::domainName(b->id)).ok());
    w.waitForState(b->id, InstanceState::Failed);  // found by the periodic resync
}

TEST_CASE("instances: GPU types without free GPUs are out-of-stock with no domain, deletable") {
    World w;
    auto gpu = w.create("train", "h100.8x");
    REQUIRE(gpu.ok());
    CHECK(gpu->state == InstanceState::OutOfStock);
    CHECK(w.host.domainCount() == 0);
    REQUIRE(w.await(w.service.act(w.project, gpu->id, InstanceAction::Delete)).ok());
    w.waitFor([&] { return w.service.list(w.project).empty(); });
}

TEST_CASE("instances: capacity counts CPU and memory held, a full host gives out-of-stock and 409 on start") {
    World w;  // 8 CPUs, 16 GiB; cpu.small = 2 CPUs, 4 GiB
    auto capacity = w.service.capacity();
    REQUIRE(capacity.ok());
    CHECK((*capacity)[0].capacity == 4);
    CHECK((*capacity)[1].capacity == 0);  // h100.8x: no GPUs inventoried
    std::vector<model::Uuid> ids;
    for (int i = 0; i < 4; ++i) {
        auto created = w.create("vm-" + std::to_string(i));
        REQUIRE(created.ok());
        CHECK(created->state == InstanceState::Creating);
        ids.push_back(created->id);
    }
    CHECK((*w.service.capacity())[0].capacity == 0);
    auto extra = w.create("vm-extra");
    REQUIRE(extra.ok());
    CHECK(extra->state == InstanceState::OutOfStock);
    w.waitForState(ids[0], InstanceState::Running);
    REQUIRE(w.await(w.service.act(w.project, ids[0], InstanceAction::Stop)).ok());
    w.waitForState(ids[0], InstanceState::Stopped);
    CHECK((*w.service.capacity())[0].capacity == 1);
    auto other = w.create("vm-late");
    REQUIRE(other.ok());
    auto start = w.await(w.service.act(w.project, ids[0], InstanceAction::Start));
    REQUIRE_FALSE(start.ok());
    CHECK(start.error().code == model::ErrorCode::Conflict);
    CHECK(w.stateOf(ids[0]) == InstanceState::Stopped);
}

TEST_CASE("instances: work waits while libvirt is down and converges once it is back, orphans are removed") {
    World w;
    auto created = w.create("patient");
    REQUIRE(created.ok());
    w.waitForState(created->id, InstanceState::Running);
    w.host.setUnavailable(true);
    auto stop = w.await(w.service.act(w.project, created->id, InstanceAction::Stop));
    REQUIRE(stop.ok());
    // Deferred, not failed: the store keeps `stopping`; the API shows the host's trouble.
    w.waitForState(created->id, InstanceState::Failed);
    CHECK(w.store.find(created->id)->state == InstanceState::Stopping);
    CHECK(w.service.get(w.project, created->id)->reason.find("unreachable") != std::string::npos);
    // No reachable host: a create is refused for now (503), never made out-of-stock.
    auto refused = w.create("while-down");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == model::ErrorCode::Unavailable);

    // A domain and volume of this agent that the store does not know: left by a crash.
    drivers::DomainSpec orphan;
    orphan.instanceId = model::Uuid::random();
    orphan.agentId = *w.agentStore.agentId();
    drivers::DomainSpec foreign = orphan;  // another agent's domain on the same libvirt
    foreign.instanceId = model::Uuid::random();
    foreign.agentId = model::Uuid::random();
    // Both there before libvirt answers again: a sweep between a domain and its volume would
    // leave the volume, which no domain then names.
    w.host.leaveBehind(orphan, agent::rootVolumeName(orphan.instanceId));
    w.host.leaveBehind(foreign);
    w.host.setUnavailable(false);

    w.waitForState(created->id, InstanceState::Stopped);
    w.waitFor([&] { return w.host.domainCount() == 2; });  // ours + the foreign one
    CHECK(w.host.powerState(drivers::domainName(foreign.instanceId)).ok());
    CHECK_FALSE(w.host.volume(agent::rootVolumeName(orphan.instanceId)).ok());
}

TEST_CASE("instances: an ephemeral root disk is made afresh at every start, a normal one is kept") {
    World w;
    auto keep = w.create("keep");
    REQUIRE(keep.ok());
    w.waitForState(keep->id, InstanceState::Running);
    auto afterCreate = w.host.overlaysCreated();
    REQUIRE(w.await(w.service.act(w.project, keep->id, InstanceAction::Stop)).ok());
    w.waitForState(keep->id, InstanceState::Stopped);
    REQUIRE(w.await(w.service.act(w.project, keep->id, InstanceAction::Start)).ok());
    w.waitForState(keep->id, InstanceState::Running);
    CHECK(w.host.overlaysCreated() == afterCreate);

    auto scratch = w.create("scratch", "cpu.small", true);
    REQUIRE(scratch.ok());
    w.waitForState(scratch->id, InstanceState::Running);
    afterCreate = w.host.overlaysCreated();
    REQUIRE(w.await(w.service.act(w.project, scratch->id, InstanceAction::Stop)).ok());
    w.waitForState(scratch->id, InstanceState::Stopped);
    REQUIRE(w.await(w.service.act(w.project, scratch->id, InstanceAction::Start)).ok());
    w.waitForState(scratch->id, InstanceState::Running);
    CHECK(w.host.overlaysCreated() == afterCreate + 1);
}

TEST_CASE("instances: a delete admitted while the create runs wins") {
    World w;
    auto created = w.create("short-lived");
    REQUIRE(created.ok());
    REQUIRE(w.await(w.service.act(w.project, created->id, InstanceAction::Delete)).ok());
    w.waitFor([&] { return w.service.list(w.project).empty(); });
    w.waitFor([&] { return w.host.domainCount() == 0; });
    CHECK(w.host.volumeCount() <= 1);
}

TEST_CASE("instance volume names round-trip to their instance") {
    auto id = model::Uuid::random();
    CHECK(agent::instanceIdFromVolumeName(agent::rootVolumeName(id)) == id);
    CHECK(agent::instanceIdFromVolumeName(agent::seedVolumeName(id)) == id);
    CHECK_FALSE(agent::instanceIdFromVolumeName("image-ubuntu22.04-0123.img").has_value());
    CHECK_FALSE(agent::instanceIdFromVolumeName("gpuhost-not-a-uuid-root.qcow2").has_value());
}

TEST_CASE("instances: each host refresh ensures the configured libvirt network, none with a bridge") {
    SUBCASE("the configured network is asked for, and an inactive one is started again") {
        World w({{"local", {8, 16ull << 30, {}}, {}}}, std::chrono::milliseconds(500),
                [](agent::InstanceOptions& o) { o.network = "gpunet"; });
        w.host.defineNetwork("gpunet", {false, false, {}});  // a fresh libvirt: defined, inactive
        w.waitFor([&] { return w.host.network("gpunet")->active; });
        CHECK(w.host.network("gpunet")->autostart);
        auto asked = w.host.ensuredNetworks();
        REQUIRE_FALSE(asked.empty());  // loadBlocking's refresh already asked
        for (const auto& name : asked) {
            CHECK(name == "gpunet");
        }
    }
    SUBCASE("a host bridge replaces the network: nothing is ensured") {
        World w({{"local", {8, 16ull << 30, {}}, {}}}, std::chrono::milliseconds(500),
                [](agent::InstanceOptions& o) { o.bridge = "br0"; });
        w.host.defineNetwork("default", {false, false, {}});
        auto created = w.create("web-1");
        REQUIRE(created.ok());
        w.waitForState(created->id, InstanceState::Running);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // resync runs every 200 ms
        CHECK(w.host.ensuredNetworks().empty());
        CHECK_FALSE(w.host.network("default")->active);
    }
    SUBCASE("a network that is missing or cannot start leaves the host reachable") {
        World w;
        w.host.defineNetwork("default", {false, false, "Cannot check dnsmasq binary dnsmasq: No such file"});
        auto before = w.host.ensuredNetworks().size();
        w.waitFor([&] { return w.host.ensuredNetworks().size() >= before + 3; });  // two full refreshes since
        CHECK_FALSE(w.host.network("default")->active);
        auto created = w.create("web-1");
        REQUIRE(created.ok());
        w.waitForState(created->id, InstanceState::Running);

        World missing({{"local", {8, 16ull << 30, {}}, {}}}, std::chrono::milliseconds(500),
                      [](agent::InstanceOptions& o) { o.network = "undefined-net"; });
        REQUIRE(missing.service.capacity().ok());  // reachable, though the network is not defined
        auto other = missing.create("web-2");
        REQUIRE(other.ok());
        missing.waitForState(other->id, InstanceState::Running);
    }
}

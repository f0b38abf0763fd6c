// GPU instances over fake HGX hosts: allocation, placement across hosts, NUMA-aware
// domain specs, release on stop, 409 on start, out-of-stock and preemption.
#include <doctest/doctest.h>

#include "fakes/hgx_devices.hpp"
#include "instance_world.hpp"

using namespace gpuhost;
using model::InstanceAction;
using model::InstanceState;
using test::World;

namespace {

std::vector<test::FakeHost> twoHgxHosts() {
    return {{"gpu-a", test::hgxResources(), test::hgxH100Devices()},
            {"gpu-b", test::hgxResources(), test::hgxH100Devices()}};
}

std::uint64_t capacityOf(World& w, const std::string& type) {
    auto capacity = w.service.capacity();  // named: a range-for over *temporary would dangle
    REQUIRE(capacity.ok());
    for (const auto& entry : *capacity) {
        if (entry.type == type) {
            return entry.capacity;
        }
    }
    FAIL("no such type " << type);
    return 0;
}

}  // namespace

TEST_CASE("gpus: two 8-GPU hosts take two h100.8x, the third is out-of-stock") {
    World w(twoHgxHosts());
    CHECK(capacityOf(w, "h100.8x-big") == 2);
    CHECK(capacityOf(w, "h100.1x") == 16);
    auto first = w.create("train-1", "h100.8x-big");
    auto second = w.create("train-2", "h100.8x-big");
    REQUIRE(first.ok());
    REQUIRE(second.ok());
    CHECK(first->gpus.size() == 8);
    CHECK(first->host != second->host);
    w.waitForState(first->id, InstanceState::Running);
    w.waitForState(second->id, InstanceState::Running);

    auto third = w.create("train-3", "h100.8x-big");
    REQUIRE(third.ok());
    CHECK(third->state == InstanceState::OutOfStock);
    CHECK(third->host.empty());
    CHECK(third->reason.find("free GPUs by host: gpu-a: 0, gpu-b: 0") != std::string::npos);
    CHECK(w.host.domainCount() + w.hosts[1].domainCount() == 2);  // no domain for it
    CHECK(capacityOf(w, "h100.8x-big") == 0);
    CHECK(capacityOf(w, "h100.1x") == 0);

    // The whole board: 8 GPUs and the 4 NVSwitches, a 2 TiB hole, both NUMA nodes.
    auto& hostOfFirst = first->host == "gpu-a" ? w.hosts[0] : w.hosts[1];
    auto spec = *hostOfFirst.spec(first->id);
    CHECK(spec.hostDevices.size() == 12);
    CHECK(spec.pciHole64Bytes == 2048ull << 30);
    CHECK(spec.memoryNodes == std::vector<int>{0, 1});
    CHECK(spec.cpuset.size() == 224);

    // Deleting the out-of-stock one works and touches nothing.
    REQUIRE(w.await(w.service.act(w.project, third->id, InstanceAction::Delete)).ok());
    w.waitFor([&] { return !w.service.get(w.project, third->id).ok(); });
}

TEST_CASE("gpus: small instances pack onto one host, one NUMA node and one PCIe switch") {
    World w(twoHgxHosts());
    auto a = w.create("a", "h100.1x");
    auto b = w.create("b", "h100.1x");
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->host == b->host);  // best fit keeps the other host whole for an 8-GPU type
    CHECK(capacityOf(w, "h100.8x-big") == 1);
    w.waitForState(a->id, InstanceState::Running);
    auto spec = *w.host.spec(a->id);
    REQUIRE(spec.hostDevices.size() == 1);
    CHECK(spec.memoryNodes.size() == 1);
    CHECK(spec.cpuset.size() == 112);
    CHECK(spec.pciHole64Bytes == 256ull << 30);
    // The second GPU is the first one's switch partner.
    CHECK(a->gpus.front().str() == "0000:18:00.0");
    CHECK(b->gpus.front().str() == "0000:2a:00.0");
}

TEST_CASE("gpus: stop releases them, another instance takes them, start is 409 and stays stopped") {
    World w({{"gpu-a", test::hgxResources(), test::hgxH100Devices()}});
    auto first = w.create("first", "h100.8x-big");
    REQUIRE(first.ok());
    w.waitForState(first->id, InstanceState::Running);
    REQUIRE(w.await(w.service.act(w.project, first->id, InstanceAction::Stop)).ok());
    w.waitForState(first->id, InstanceState::Stopped);
    CHECK(w.service.get(w.project, first->id)->gpus.empty());
    CHECK(w.store.find(first->id)->gpus.empty());

    auto second = w.create("second", "h100.8x-big");
    REQUIRE(second.ok());
    CHECK(second->state == InstanceState::Creating);
    w.waitForState(second->id, InstanceState::Running);
    auto start = w.await(w.service.act(w.project, first->id, InstanceAction::Start));
    REQUIRE_FALSE(start.ok());
    CHECK(start.error().code == model::ErrorCode::Conflict);
    CHECK(start.error().message.find("H100-SXM5-80GB") != std::string::npos);
    CHECK(w.stateOf(first->id) == InstanceState::Stopped);

    // Once the second is gone, the first starts again with 8 GPUs.
    REQUIRE(w.await(w.service.act(w.project, second->id, InstanceAction::Delete)).ok());
    w.waitFor([&] { return !w.service.get(w.project, second->id).ok(); });
    REQUIRE(w.await(w.service.act(w.project, first->id, InstanceAction::Start)).ok());
    w.waitForState(first->id, InstanceState::Running);
    CHECK(w.store.find(first->id)->gpus.size() == 8);
}

TEST_CASE("gpus: a non-preemptible instance stops the fewest preemptible ones and waits for their GPUs") {
    // Guests ignore ACPI: the victim's domain keeps its GPUs until the agent destroys it.
    World w(twoHgxHosts(), std::chrono::milliseconds(300));
    std::vector<model::Uuid> smalls;
    for (int i = 0; i < 4; ++i) {
        auto small = w.create("spot-small-" + std::to_string(i), "h100.1x", false, true);
        REQUIRE(small.ok());
        smalls.push_back(small->id);
    }
    auto big = w.create("spot-big", "h100.8x-big", false, true);
    REQUIRE(big.ok());
    CHECK(big->host != w.service.get(w.project, smalls[0])->host);
    // Settled: running with an address. An instance whose address is being written is
    // not a candidate at that moment (one change at a time), which would change the choice.
    for (const auto& id : smalls) {
        w.waitFor([&] { return w.service.get(w.project, id)->ip.has_value(); });
    }
    w.waitFor([&] { return w.service.get(w.project, big->id)->ip.has_value(); });
    w.hosts[0].ignoreShutdown(true);
    w.hosts[1].ignoreShutdown(true);

    // Host of the smalls: 4 victims needed; host of the big one: 1. The big one goes.
    auto urgent = w.create("urgent", "h100.8x-big");
    REQUIRE(urgent.ok());
    CHECK(urgent->state == InstanceState::Creating);
    CHECK(urgent->host == big->host);
    CHECK(urgent->gpus.size() == 8);
    w.waitForState(big->id, InstanceState::Stopped);
    w.waitForState(urgent->id, InstanceState::Running);
    auto evicted = *w.service.get(w.project, big->id);
    CHECK(evicted.reason.find("preempted by non-preemptible instance " + urgent->id.str()) !=
          std::string::npos);
    CHECK(evicted.gpus.empty());
    for (const auto& id : smalls) {
        CHECK(w.stateOf(id) == InstanceState::Running);
    }
    // Never two running domains with one device.
    auto& shared = urgent->host == "gpu-a" ? w.hosts[0] : w.hosts[1];
    CHECK(shared.assignedPciDevices()->size() == 12);
    // A preemptible instance never preempts: out-of-stock.
    auto spot = w.create("spot-late", "h100.8x-big", false, true);
    REQUIRE(spot.ok());
    CHECK(spot->state == InstanceState::OutOfStock);
}

TEST_CASE("hosts: one that drops shows its instances as error, the other host goes on, reconnect restores") {
    World w(twoHgxHosts());
    auto onA = w.create("on-a", "h100.8x-big");
    auto onB = w.create("on-b", "h100.8x-big");
    REQUIRE(onA.ok());
    REQUIRE(onB.ok());
    w.waitForState(onA->id, InstanceState::Running);
    w.waitForState(onB->id, InstanceState::Running);
    auto& lost = onA->host == "gpu-a" ? w.hosts[0] : w.hosts[1];
    lost.setUnavailable(true);
    w.waitForState(onA->id, InstanceState::Failed);
    CHECK(w.service.get(w.project, onA->id)->reason.find("is unreachable") != std::string::npos);
    CHECK(w.store.find(onA->id)->state == InstanceState::Running);  // the stored state is kept
    CHECK(w.stateOf(onB->id) == InstanceState::Running);
    // The other host still takes work; the lost one's capacity is not counted.
    REQUIRE(w.await(w.service.act(w.project, onB->id, InstanceAction::Stop)).ok());
    w.waitForState(onB->id, InstanceState::Stopped);
    CHECK(capacityOf(w, "h100.8x-big") == 1);
    lost.setUnavailable(false);
    w.waitForState(onA->id, InstanceState::Running);
    CHECK(w.service.get(w.project, onA->id)->reason.empty());
}

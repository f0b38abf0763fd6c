// The fake hypervisor fans events out like the libvirt one (libvirt_events_test): service
// tests with two listeners (instances and a cluster owner) rely on it.
#include <doctest/doctest.h>

#include "fakes/fake_hypervisor.hpp"

using namespace gpuhost;

namespace {

struct Counter final : drivers::HypervisorEvents {
    std::vector<model::Uuid> changed;
    void domainChanged(const model::Uuid& instanceId) override { changed.push_back(instanceId); }
    void connectionLost() override {}
    void devicesChanged() override {}
};

}  // namespace

TEST_CASE("fake hypervisor: every sink given to watch gets every domain change") {
    test::FakeHypervisor host;
    Counter first;
    Counter second;
    host.watch(first);
    host.watch(second);
    auto a = model::Uuid::random();
    auto b = model::Uuid::random();
    host.guestChanges(a, drivers::PowerState::ShutOff);
    host.guestChanges(b, drivers::PowerState::Crashed);
    CHECK(first.changed == std::vector{a, b});
    CHECK(second.changed == std::vector{a, b});
}

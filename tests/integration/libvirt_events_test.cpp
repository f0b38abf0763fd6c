// Hypervisor events fan out: every sink given to watch() gets every event (a cluster
// controller listens beside the instance service), through libvirt's own event loop on
// the test driver.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "libvirt/event_loop.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "tiny_domain_spec.hpp"

using namespace gpuhost;
using namespace gpuhost::drivers;
using namespace gpuhost::drivers::libvirt;

namespace {

class Recorder final : public HypervisorEvents {
  public:
    void domainChanged(const model::Uuid& instanceId) override {
        std::lock_guard lock(mutex_);
        changed_.push_back(instanceId);
    }
    void connectionLost() override {}
    void devicesChanged() override {}
    std::size_t seen(const model::Uuid& instanceId) {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(std::count(changed_.begin(), changed_.end(), instanceId));
    }

  private:
    std::mutex mutex_;
    std::vector<model::Uuid> changed_;
};

template <class Done>
bool eventually(Done done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace

TEST_CASE("libvirt hypervisor: every sink given to watch gets every domain event, registered once") {
    Recorder first;
    Recorder second;
    Recorder late;
    EventLoop loop;  // before the connection, as in the daemon
    Connection connection("test:///default");
    LibvirtHypervisor hypervisor(connection);
    hypervisor.watch(first);
    hypervisor.watch(second);
    auto instance = model::Uuid::random();
    auto name = domainName(instance);
    REQUIRE(hypervisor.defineDomain(test::tinyDomainSpec(instance))
                .ok());  // opens the connection: callbacks registered
    REQUIRE(hypervisor.startDomain(name).ok());
    CHECK(eventually([&] { return first.seen(instance) >= 2 && second.seen(instance) >= 2; }));

    hypervisor.watch(late);  // added while the connection is open: no second registration
    REQUIRE(hypervisor.destroyDomain(name).ok());
    CHECK(eventually([&] { return late.seen(instance) == 1 && first.seen(instance) >= 3; }));
    REQUIRE(hypervisor.undefineDomain(name).ok());
    CHECK(eventually([&] { return late.seen(instance) == 2; }));
    // Each sink saw each event exactly once: the same count everywhere before `late` came.
    CHECK(first.seen(instance) == second.seen(instance));
    CHECK(first.seen(instance) == late.seen(instance) + 2);  // define + start came before it
}

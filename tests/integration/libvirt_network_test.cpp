// The agent's libvirt network: a fresh libvirt defines `default` but leaves it inactive
// (and not autostarted), so no domain on it starts. The agent starts it on each host
// refresh. The driver is tested on the in-process test driver; the daemon through a
// libvirtd of the test's own, since the daemon is another process and test:///default
// state is per process.
#include <doctest/doctest.h>
#include <libvirt/libvirt.h>

#include <chrono>
#include <memory>
#include <thread>

#include "api_helpers.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "support/private_libvirtd.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using Clock = std::chrono::steady_clock;

namespace {

using ConnectHandle = std::unique_ptr<virConnect, decltype(&virConnectClose)>;
using NetworkHandle = std::unique_ptr<virNetwork, decltype(&virNetworkFree)>;

// Leaves `name` as a fresh Debian install has it: defined, inactive, not autostarted.
void stopNetwork(virConnectPtr conn, const char* name) {
    NetworkHandle network(virNetworkLookupByName(conn, name), virNetworkFree);
    REQUIRE(network != nullptr);
    REQUIRE(virNetworkSetAutostart(network.get(), 0) == 0);
    if (virNetworkIsActive(network.get()) == 1) {
        REQUIRE(virNetworkDestroy(network.get()) == 0);
    }
    REQUIRE(virNetworkIsActive(network.get()) == 0);
}

struct NetworkState {
    bool active = false;
    bool autostart = false;
};

NetworkState networkState(virConnectPtr conn, const char* name) {
    NetworkHandle network(virNetworkLookupByName(conn, name), virNetworkFree);
    REQUIRE(network != nullptr);
    int autostart = 0;
    REQUIRE(virNetworkGetAutostart(network.get(), &autostart) == 0);
    return {virNetworkIsActive(network.get()) == 1, autostart == 1};
}

}  // namespace

TEST_CASE("libvirt network: ensureNetwork starts an inactive network and autostarts it, once") {
    ConnectHandle conn(virConnectOpen("test:///default"), virConnectClose);
    REQUIRE(conn != nullptr);
    stopNetwork(conn.get(), "default");
    drivers::libvirt::Connection connection("test:///default");
    drivers::libvirt::LibvirtHypervisor hypervisor(connection);

    auto started = hypervisor.ensureNetwork("default");
    REQUIRE_MESSAGE(started.ok(), started.error().message);
    CHECK(*started);
    auto state = networkState(conn.get(), "default");
    CHECK(state.active);
    CHECK(state.autostart);

    auto again = hypervisor.ensureNetwork("default");  // already active: nothing to do
    REQUIRE(again.ok());
    CHECK_FALSE(*again);

    auto missing = hypervisor.ensureNetwork("no-such-network");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == model::ErrorCode::NotFound);
    CHECK(missing.error().message.find("no-such-network") != std::string::npos);
}

TEST_CASE("libvirt network: gpuhostd starts the host's inactive network and instances get to running") {
    PrivateLibvirtd libvirtd;
    libvirtd.start();
    ConnectHandle conn(virConnectOpen(libvirtd.uri().c_str()), virConnectClose);
    REQUIRE(conn != nullptr);
    stopNetwork(conn.get(), "default");

    Daemon daemon({}, "127.0.0.1:0", libvirtd.uri());
    daemon.start();
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (!networkState(conn.get(), "default").active) {
        REQUIRE_MESSAGE(Clock::now() < deadline, daemon.log());
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(networkState(conn.get(), "default").autostart);  // also after the host reboots
    CHECK(daemon.log().find("started libvirt network") != std::string::npos);

    auto project = createProject(daemon.port(), "network");
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"vm-1","type":"cpu.small"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    auto id = nlohmann::json::parse(created.body).at("id").get<std::string>();
    CHECK(waitForState(daemon.port(), project, id, "running").at("state") == "running");
    CHECK(daemon.stop() == 0);
}

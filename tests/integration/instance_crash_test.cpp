// Crash consistency: gpuhostd is killed with SIGKILL at random points of a workload of
// creates, stops, starts and deletes, restarted, and must converge with libvirt: every
// acknowledged instance present and steady, every acknowledged delete gone, and no
// domain or volume of this agent without an instance.
//
// The daemon drives test+unix:///default: libvirt's test driver inside libvirtd, whose
// state outlives the daemon as long as one connection (this test's) stays open. So it
// needs a running libvirtd (./test.sh starts one).
#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <random>
#include <set>

#include "api_helpers.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"
#include "model/uuid.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;

namespace {

constexpr const char* kSharedUri = "test+unix:///default";

struct Observed {
    std::map<std::string, std::string> instances;  // id → state, from the API
    std::map<std::string, drivers::PowerState> domains;
    std::set<std::string> volumeOwners;
};

bool steady(const std::string& state) {
    return state == "running" || state == "stopped";
}

Observed observe(Daemon& daemon, const std::string& project, drivers::libvirt::LibvirtHypervisor& hypervisor,
                 drivers::libvirt::LibvirtStorage& storage, const std::set<std::string>& everCreated) {
    Observed seen;
    auto listed = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    REQUIRE(listed.status == 200);
    for (const auto& instance : json::parse(listed.body)) {
        seen.instances[instance.at("id")] = instance.at("state");
    }
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    for (const auto& domain : *domains) {
        if (everCreated.contains(domain.instanceId.str())) {
            seen.domains[domain.instanceId.str()] = domain.state;
        }
    }
    auto volumes = storage.listVolumes();
    REQUIRE(volumes.ok());
    for (const auto& volume : *volumes) {
        if (volume.name.starts_with("gpuhost-")) {
            seen.volumeOwners.insert(volume.name.substr(8, 36));
        }
    }
    return seen;
}

}  // namespace

TEST_CASE("crash: SIGKILL at random points of create/stop/start/delete, restart converges with libvirt") {
    drivers::libvirt::Connection observer(kSharedUri);  // keeps the shared test driver alive
    REQUIRE_MESSAGE(observer.get().ok(), "libvirtd must be running (scripts/ensure-libvirtd.sh)");
    drivers::libvirt::LibvirtHypervisor hypervisor(observer);

    Daemon daemon({}, "127.0.0.1:0", kSharedUri);
    drivers::libvirt::LibvirtStorage storage(observer, daemon.poolName(), daemon.poolPath(),
                                             daemon.dir() / "state" / "filesystems");
    daemon.start();
    auto project = createProject(daemon.port(), "crash");

    std::mt19937 random(std::random_device{}());
    std::set<std::string> acknowledged;  // 201 and not yet acknowledged deleted
    std::set<std::string> deleted;
    std::set<std::string> everCreated;
    int next = 0;
    for (int trial = 0; trial < 20; ++trial) {
        CAPTURE(trial);
        for (int i = 0; i < 2; ++i) {
            auto created =
                httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                            R"({"name":"vm-)" + std::to_string(next++) + R"(","type":"cpu.small"})");
            REQUIRE(created.status == 201);
            std::string id = json::parse(created.body).at("id");
            acknowledged.insert(id);
            everCreated.insert(id);
        }
        std::vector<std::string> present(acknowledged.begin(), acknowledged.end());
        auto pick = [&] { return present[random() % present.size()]; };
        for (const char* action : {"stop", "start"}) {
            // 202 or 409 (the state forbids it): either is fine, nothing else is.
            auto status =
                httpRequest(daemon.port(), "POST", kBase + "/instances/" + pick() + "/actions/" + action,
                            inProject(project))
                    .status;
            CHECK((status == 202 || status == 409));
        }
        auto doomed = pick();
        REQUIRE(
            httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + doomed, inProject(project)).status ==
            204);
        acknowledged.erase(doomed);
        deleted.insert(doomed);

        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 40));
        daemon.kill();
        daemon.start();

        // Converged: the API lists exactly the acknowledged instances, all steady, and
        // libvirt holds a domain and volumes for those and nothing else.
        Observed seen;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        auto converged = [&] {
            if (seen.instances.size() != acknowledged.size()) {
                return false;
            }
            std::size_t withDomain = 0;
            for (const auto& [id, state] : seen.instances) {
                if (!acknowledged.contains(id)) {
                    return false;
                }
                if (state == "out-of-stock") {  // the test host is small: no domain, by design
                    continue;
                }
                if (!steady(state) || !seen.domains.contains(id)) {
                    return false;
                }
                ++withDomain;
                auto power = seen.domains.at(id);
                if ((state == "running") != (power == drivers::PowerState::Running)) {
                    return false;
                }
            }
            for (const auto& owner : seen.volumeOwners) {
                if (everCreated.contains(owner) && !seen.domains.contains(owner)) {
                    return false;
                }
            }
            return withDomain == seen.domains.size();
        };
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            seen = observe(daemon, project, hypervisor, storage, everCreated);
        } while (!converged() && std::chrono::steady_clock::now() < deadline);
        std::string picture = "acknowledged:";
        for (const auto& id : acknowledged) {
            picture += " " + id.substr(0, 8);
        }
        picture += "\napi:";
        for (const auto& [id, state] : seen.instances) {
            picture += " " + id.substr(0, 8) + "=" + state;
        }
        picture += "\nlibvirt:";
        for (const auto& [id, power] : seen.domains) {
            picture += " " + id.substr(0, 8) + "=" + std::string(drivers::nameOf(power));
        }
        picture += "\nvolumes of:";
        for (const auto& id : seen.volumeOwners) {
            picture += " " + id.substr(0, 8);
        }
        CHECK_MESSAGE(converged(), picture);
        for (const auto& id : deleted) {
            CHECK(httpRequest(daemon.port(), "GET", kBase + "/instances/" + id, inProject(project)).status ==
                  404);
        }
    }

    // Clean up through the API: nothing of ours may be left in libvirt.
    for (const auto& id : acknowledged) {
        CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project)).status ==
              204);
    }
    Observed seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        seen = observe(daemon, project, hypervisor, storage, everCreated);
    } while ((!seen.instances.empty() || !seen.domains.empty()) &&
             std::chrono::steady_clock::now() < deadline);
    CHECK(seen.instances.empty());
    CHECK(seen.domains.empty());
    for (const auto& owner : seen.volumeOwners) {
        CHECK_FALSE(everCreated.contains(owner));
    }
    CHECK(daemon.stop() == 0);
}

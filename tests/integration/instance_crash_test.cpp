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
#include "crash_view.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"
#include "model/uuid.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;

namespace {

constexpr const char* kSharedUri = "test+unix:///default";

bool steady(const std::string& state) {
    return state == "running" || state == "stopped";
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
        CrashView seen;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        auto converged = [&] {
            if (seen.states.size() != acknowledged.size()) {
                return false;
            }
            std::size_t withDomain = 0;
            for (const auto& [id, state] : seen.states) {
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
            seen = viewAfterCrash(daemon, project, hypervisor, storage, everCreated);
        } while (!converged() && std::chrono::steady_clock::now() < deadline);
        std::string picture = "acknowledged:";
        for (const auto& id : acknowledged) {
            picture += " " + id.substr(0, 8);
        }
        picture += "\n" + seen.describe();
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
    CrashView seen;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        seen = viewAfterCrash(daemon, project, hypervisor, storage, everCreated);
    } while ((!seen.states.empty() || !seen.domains.empty()) && std::chrono::steady_clock::now() < deadline);
    CHECK(seen.states.empty());
    CHECK(seen.domains.empty());
    CHECK_MESSAGE(seen.volumeOwners.empty(), seen.describe());
    CHECK(daemon.stop() == 0);
}

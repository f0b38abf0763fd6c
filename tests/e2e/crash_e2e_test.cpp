// Crash consistency on real qemu:///system (TCG here): gpuhostd is killed with SIGKILL at
// random points while it creates real VMs (image import, overlay, seed ISO, define, start)
// and while it deletes them, then restarted. Unlike the test driver, libvirtd and QEMU
// outlive the daemon here, so the restarted daemon must adopt what they did meanwhile:
// every acknowledged instance running with its domain, every acknowledged delete gone,
// and no domain, volume or seed ISO of this agent left without an instance.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>

#include "../integration/api_helpers.hpp"
#include "../integration/crash_view.hpp"
#include "e2e_helpers.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Exactly the wanted instances, each running in a running domain with its volumes, and
// nothing of any other instance this test ever made.
bool converged(const CrashView& seen, const std::set<std::string>& wanted) {
    if (seen.states.size() != wanted.size() || seen.domains.size() != wanted.size()) {
        return false;
    }
    for (const auto& id : wanted) {
        auto state = seen.states.find(id);
        auto domain = seen.domains.find(id);
        if (state == seen.states.end() || state->second != "running" || domain == seen.domains.end() ||
            domain->second != drivers::PowerState::Running || !seen.volumeOwners.contains(id)) {
            return false;
        }
    }
    return seen.volumeOwners.size() == wanted.size();
}

}  // namespace

TEST_CASE("e2e: SIGKILL during real VM creates and deletes, restart converges with no orphans") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends
    drivers::libvirt::Connection observer("qemu:///system");
    drivers::libvirt::LibvirtHypervisor hypervisor(observer);

    Daemon daemon(e2eConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    drivers::libvirt::LibvirtStorage storage(observer, daemon.poolName(), daemon.poolPath(),
                                             daemon.dir() / "state" / "filesystems");
    daemon.start();
    auto project = createProject(daemon.port(), "crash-e2e");

    std::mt19937 random(std::random_device{}());
    std::set<std::string> everCreated;
    std::set<std::string> wanted;
    double slowestMs = 0;
    auto killRestartAndConverge = [&](int maxDelayMs, const char* phase) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % maxDelayMs));
        daemon.kill();
        daemon.start();
        auto restarted = Clock::now();
        CrashView seen;
        auto deadline = restarted + std::chrono::seconds(60);
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            seen = viewAfterCrash(daemon, project, hypervisor, storage, everCreated);
        } while (!converged(seen, wanted) && Clock::now() < deadline);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - restarted).count();
        slowestMs = std::max(slowestMs, ms);
        MESSAGE(std::string(phase) << ": converged " << ms << " ms after the restart");
        CHECK_MESSAGE(converged(seen, wanted), phase << "\n"
                                                     << seen.describe() << "\nbefore the restart:\n"
                                                     << daemon.previousLogs() << "\nafter:\n"
                                                     << daemon.log());
    };

    for (int trial = 0; trial < 4; ++trial) {
        CAPTURE(trial);
        for (int i = 0; i < 2; ++i) {
            auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                                       R"({"name":"crash-)" + std::to_string(trial) + "-" +
                                           std::to_string(i) + R"(","type":"e2e.tiny"})");
            REQUIRE_MESSAGE(created.status == 201, created.body);
            std::string id = json::parse(created.body).at("id");
            everCreated.insert(id);
            wanted.insert(id);
        }
        killRestartAndConverge(3000, "killed while creating");
        for (const auto& id : std::set<std::string>(wanted)) {
            REQUIRE(
                httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project)).status ==
                204);
            wanted.erase(id);
        }
        killRestartAndConverge(1000, "killed while deleting");
    }
    MESSAGE("slowest convergence after a restart: " << slowestMs << " ms");
    // No seed ISO or console log of a deleted instance is left on the host either.
    for (const char* folder : {"scratch", "console"}) {
        for (const auto& file : fs::directory_iterator(daemon.dir() / "state" / folder)) {
            CHECK_MESSAGE(!everCreated.contains(file.path().stem().string()), file.path());
        }
    }
    CHECK(daemon.stop() == 0);
}

// Two hosts, each its own libvirtd: one is frozen (SIGSTOP: its socket accepts, nothing
// answers) with work of its own hung in libvirt calls. The other host's creates must
// still reach `running`, and reads must still answer, while it stays frozen: blocking
// calls are queued per host and each host has its own reconcile loop (issue #13).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "api_helpers.hpp"
#include "support/private_libvirtd.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

long msSince(Clock::time_point start) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

json create(Daemon& daemon, const std::string& project, const std::string& name, const std::string& type) {
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":")" + name + R"(","type":")" + type + R"("})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    return json::parse(created.body);
}

template <class Done>
bool within(std::chrono::seconds timeout, Done done) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
        if (Clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

}  // namespace

TEST_CASE("two hosts: one frozen libvirtd does not stall creates and reads on the other host") {
    PrivateLibvirtd first, second;
    first.start();
    second.start();
    // Two blocking threads in all: before per-host pools, the frozen host's hung calls (its
    // resync and a stop) took both, and nothing on the other host could run.
    Daemon daemon(
        "blocking_threads: 2\n"
        "libvirt:\n  virt_type: qemu\n  pool: @POOL@\n  shutdown_timeout_s: 2\n  resync_interval_s: 2\n"
        "hosts:\n  - {name: host-a, uri: '" +
        first.uri() + "'}\n  - {name: host-b, uri: '" + second.uri() +
        "'}\n"
        "instance_types:\n  - {name: cpu.big, cpu: 1, memory: 2Gi}\n"
        "  - {name: cpu.small, cpu: 1, memory: 64Mi}\n");
    daemon.start();
    auto project = createProject(daemon.port(), "two-hosts");
    auto bigA = create(daemon, project, "big-a", "cpu.big");
    auto bigB = create(daemon, project, "big-b", "cpu.big");  // the test hosts have 3 GiB: one each
    REQUIRE(bigA.at("host") == "host-a");
    REQUIRE(bigB.at("host") == "host-b");
    std::string frozenId = bigB.at("id");
    REQUIRE(waitForState(daemon.port(), project, bigA.at("id"), "running").at("state") == "running");
    REQUIRE(waitForState(daemon.port(), project, frozenId, "running").at("state") == "running");

    second.freeze();
    auto stop = httpRequest(daemon.port(), "POST", kBase + "/instances/" + frozenId + "/actions/stop",
                            inProject(project));
    REQUIRE_MESSAGE(stop.status == 202, stop.body);
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // host-b's resync hangs too now

    std::vector<std::pair<std::string, Clock::time_point>> creates;
    for (int i = 0; i < 4; ++i) {
        auto sent = Clock::now();
        auto made = create(daemon, project, "small-" + std::to_string(i), "cpu.small");
        CHECK(made.at("host") == "host-a");
        MESSAGE("create " << i << " on host-a acknowledged in " << msSince(sent) << " ms");
        creates.emplace_back(made.at("id"), sent);
    }
    long slowestRead = 0;
    for (const auto& [id, sent] : creates) {
        auto deadline = Clock::now() + std::chrono::seconds(60);
        std::string state;
        while (Clock::now() < deadline) {
            auto readStart = Clock::now();
            auto got = httpRequest(daemon.port(), "GET", kBase + "/instances/" + id, inProject(project));
            slowestRead = std::max(slowestRead, msSince(readStart));
            REQUIRE(got.status == 200);
            state = json::parse(got.body).at("state");
            if (state == "running") {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        CHECK_MESSAGE(state == "running", "a create on host-a did not finish while host-b was frozen");
        MESSAGE("create on host-a running " << msSince(sent) << " ms after it was sent, host-b frozen");
    }
    // The creates finished while host-b was frozen and before the daemon gave up on it:
    // host-b was not shown unreachable yet when they were running.
    auto reasonOfB = [&] {
        auto shown = httpRequest(daemon.port(), "GET", kBase + "/instances/" + frozenId, inProject(project));
        return json::parse(shown.body).value("reason", std::string());
    };
    CHECK(reasonOfB().find("unreachable") == std::string::npos);
    // Stay frozen: after HostRegistry::kHung host-b is shown unreachable (its stop waits, it
    // is not failed), new instances go elsewhere, and host-a still serves.
    CHECK(within(std::chrono::seconds(90),
                 [&] { return reasonOfB().find("unreachable") != std::string::npos; }));
    auto late = create(daemon, project, "small-late", "cpu.small");
    CHECK(late.at("host") == "host-a");
    CHECK(waitForState(daemon.port(), project, late.at("id"), "running").at("state") == "running");
    auto listStart = Clock::now();
    auto list = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    REQUIRE(list.status == 200);
    CHECK(json::parse(list.body).size() == 7);
    MESSAGE("list during the freeze: " << msSince(listStart) << " ms; slowest single read " << slowestRead
                                       << " ms");

    second.thaw();
    auto stopped = waitForState(daemon.port(), project, frozenId, "stopped");
    CHECK_MESSAGE(stopped.at("state") == "stopped", stopped.dump());
    CHECK(daemon.stop() == 0);
}

// The guest-agent driver and the async guest-exec layer against a real dev-image VM on
// qemu:///system (booted through the daemon's API): a program with stdin, its exit code
// and output; a missing program; a file written with a mode and owner and read back; a
// `sleep 600` timed out, killed and gone. Then a stop through the API, timed (the agent
// asks the guest agent first: seconds, not shutdown_timeout_s).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../integration/api_helpers.hpp"
#include "e2e_helpers.hpp"
#include "libvirt/libvirt_guest_agent.hpp"
#include "services/guest_exec.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using namespace std::literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t msSince(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

}  // namespace

TEST_CASE("e2e: guest agent runs programs with stdin, writes files with a mode, and times out a sleep") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends

    Daemon daemon(e2eConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    auto project = createProject(daemon.port(), "e2e-agent");
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"agent-vm","type":"e2e.tiny"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string id = json::parse(created.body).at("id");
    auto running = waitForState(daemon.port(), project, id, "running", kBootTimeout);
    REQUIRE_MESSAGE(running.at("state") == "running", running.dump() << "\n" << daemon.log());

    drivers::libvirt::Connection connection("qemu:///system");
    drivers::libvirt::LibvirtGuestAgent driver(connection);
    agent::BlockingPool pool(2);
    agent::GuestTarget guest{&driver, &pool, "gpuhost-" + id};

    // Until the guest's agent starts, it is Unavailable (never another error).
    auto booted = Clock::now();
    model::Result<void> pinged = model::Error::internal("not asked yet");
    while (Clock::now() - booted < kBootTimeout) {
        pinged = runCoroutine(agent::ping(guest));
        if (pinged.ok()) {
            break;
        }
        CHECK_MESSAGE(pinged.error().code == model::ErrorCode::Unavailable, pinged.error().message);
        std::this_thread::sleep_for(1s);
    }
    REQUIRE_MESSAGE(pinged.ok(), (pinged.ok() ? std::string() : pinged.error().message));
    MESSAGE("guest agent answered " << msSince(booted) << " ms after running");

    auto started = Clock::now();
    auto cat = runCoroutine(agent::exec(guest, {"cat"}, "hello\0from gpuhost\n"s, 60s));
    REQUIRE_MESSAGE(cat.ok(), (cat.ok() ? std::string() : cat.error().message));
    CHECK(cat->exitCode == 0);
    CHECK(cat->stdOut == "hello\0from gpuhost\n"s);
    MESSAGE("cat with stdin: " << msSince(started) << " ms");

    auto fails = runCoroutine(agent::exec(guest, {"/bin/false"}, {}, 60s));
    REQUIRE(fails.ok());
    CHECK(fails->exitCode == 1);
    auto stderrText = runCoroutine(agent::exec(guest, {"ls", "/no-such-dir"}, {}, 60s));
    REQUIRE(stderrText.ok());
    CHECK(stderrText->exitCode == 2);
    CHECK(stderrText->stdErr.find("No such file or directory") != std::string::npos);
    auto missing = runCoroutine(agent::exec(guest, {"/no/such/program"}, {}, 60s));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == model::ErrorCode::Internal);
    CHECK_MESSAGE(missing.error().message.find("No such file or directory") != std::string::npos,
                  missing.error().message);
    auto noDomain = runCoroutine(agent::ping({&driver, &pool, "gpuhost-no-such-domain"}));
    REQUIRE_FALSE(noDomain.ok());
    CHECK(noDomain.error().code == model::ErrorCode::NotFound);

    std::string path = "/var/tmp/gpuhost-e2e/deeper/secret file";
    std::string secret = "line 1\n\0binary\xff\n"s;
    auto written = runCoroutine(agent::writeFile(
        guest, {.path = path, .bytes = secret, .mode = 0640, .owner = "nobody", .group = "nogroup"}));
    REQUIRE_MESSAGE(written.ok(), (written.ok() ? std::string() : written.error().message));
    auto readBack = runCoroutine(agent::exec(guest, {"cat", path}, {}, 60s));
    REQUIRE(readBack.ok());
    CHECK(readBack->stdOut == secret);
    auto stat = runCoroutine(agent::exec(guest, {"stat", "-c", "%a %U %G", path}, {}, 60s));
    REQUIRE(stat.ok());
    CHECK(stat->stdOut == "640 nobody nogroup\n");
    auto refused = runCoroutine(agent::writeFile(guest, {.path = "/var/tmp/x", .owner = "no-such-user"}));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("invalid user") != std::string::npos);

    started = Clock::now();
    auto slept = runCoroutine(agent::exec(guest, {"sleep", "600"}, {}, 5s));
    REQUIRE_MESSAGE(slept.ok(), (slept.ok() ? std::string() : slept.error().message));
    CHECK(slept->timedOut);
    CHECK(slept->signal == 9);
    MESSAGE("sleep 600 with a 5 s timeout came back after " << msSince(started) << " ms");
    auto left = runCoroutine(agent::exec(guest, {"pgrep", "-f", "^sleep 600$"}, {}, 60s));
    REQUIRE(left.ok());
    CHECK_MESSAGE(left->exitCode == 1, "still running: " << left->stdOut);  // pgrep: 1 = no match

    // Stop through the API: the guest agent (or ACPI) powers it off, no 60 s destroy.
    started = Clock::now();
    auto stop =
        httpRequest(daemon.port(), "POST", kBase + "/instances/" + id + "/actions/stop", inProject(project));
    REQUIRE(stop.status == 202);
    auto stopped = pollInstance(
        daemon.port(), project, id, [](const json& b) { return b.at("state") == "stopped"; },
        std::chrono::minutes(3));
    CHECK(stopped.at("state") == "stopped");
    MESSAGE("POST stop → stopped: " << msSince(started) << " ms");
    CHECK(daemon.log().find("guest ignored the shutdown request") == std::string::npos);

    auto removed = httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project));
    CHECK(removed.status == 204);
    CHECK(pollInstance(
              daemon.port(), project, id, [](const json& b) { return b.is_null(); }, std::chrono::minutes(1))
              .is_null());
    CHECK(daemon.stop() == 0);
}

// End-to-end through the API on real qemu:///system (TCG here): POST /instances with a
// userData that writes a marker ends in a VM that boots the dev image and runs it (read
// back through the guest agent); stop and start work; DELETE leaves no domain, volume
// or file behind. Needs root, libvirtd and images/build-dev-image.sh (./test.sh does both).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <openssl/evp.h>

#include "../integration/api_helpers.hpp"
#include "e2e_helpers.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;
namespace fs = std::filesystem;

using namespace gpuhost::test::e2e;

TEST_CASE(
    "e2e: an instance made through the API boots, runs the user's cloud-init, stops, starts and is deleted") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends

    Daemon daemon(e2eConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    auto project = createProject(daemon.port(), "e2e");

    std::string userData = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo gpuhost-api-e2e > /var/tmp/marker']\n";
    auto created =
        httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                    R"({"name":"e2e-vm","type":"e2e.tiny","userData":")" + base64(userData) + "\"}");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string id = json::parse(created.body).at("id");
    std::string domain = "gpuhost-" + id;

    auto running = waitForState(daemon.port(), project, id, "running", kBootTimeout);
    std::string context = running.dump() + "\n" + daemon.log();
    REQUIRE_MESSAGE(running.at("state") == "running", context);
    auto withIp = pollInstance(
        daemon.port(), project, id, [](const json& b) { return b.is_object() && !b.at("ip").is_null(); },
        kBootTimeout);
    REQUIRE_MESSAGE(withIp.at("ip").is_string(), withIp.dump());
    CHECK(withIp.at("ip").get<std::string>().starts_with("192.168.122."));
    MESSAGE("guest address " << withIp.at("ip").get<std::string>());

    // cloud-init ran the user's runcmd (it may finish a little after the agent starts).
    std::optional<std::string> marker;
    auto deadline = std::chrono::steady_clock::now() + kBootTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        marker = guestExec(domain, {"/bin/cat", "/var/tmp/marker"});
        if (marker && marker->find("gpuhost-api-e2e") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    REQUIRE(marker.has_value());
    CHECK(marker->find("gpuhost-api-e2e") != std::string::npos);
    auto hostname = guestExec(domain, {"/bin/hostname"});
    REQUIRE(hostname.has_value());
    CHECK(hostname->find("e2e-vm") != std::string::npos);

    auto stop =
        httpRequest(daemon.port(), "POST", kBase + "/instances/" + id + "/actions/stop", inProject(project));
    REQUIRE(stop.status == 202);
    auto stopped = pollInstance(
        daemon.port(), project, id, [](const json& b) { return b.at("state") == "stopped"; },
        std::chrono::minutes(2));
    CHECK(stopped.at("state") == "stopped");
    CHECK(virsh({"domstate", domain}).find("shut off") != std::string::npos);

    auto start =
        httpRequest(daemon.port(), "POST", kBase + "/instances/" + id + "/actions/start", inProject(project));
    REQUIRE(start.status == 202);
    CHECK(waitForState(daemon.port(), project, id, "running", kBootTimeout).at("state") == "running");
    CHECK(virsh({"domstate", domain}).find("running") != std::string::npos);

    // Powered off behind the agent's back: libvirt's lifecycle event moves it to stopped
    // (the periodic resync is set to 5 minutes here, so only the event can do it in time).
    REQUIRE_FALSE(virsh({"destroy", domain}).empty());
    auto before = std::chrono::steady_clock::now();
    auto offline = pollInstance(
        daemon.port(), project, id, [](const json& b) { return b.at("state") == "stopped"; },
        std::chrono::seconds(30));
    CHECK(offline.at("state") == "stopped");
    CHECK(offline.value("reason", "") == "the guest powered off");
    MESSAGE("stopped seen through the API " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - before)
                                                   .count()
                                            << " ms after virsh destroy returned");

    auto removed = httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project));
    REQUIRE(removed.status == 204);
    auto gone = pollInstance(
        daemon.port(), project, id, [](const json& b) { return b.is_null(); }, std::chrono::minutes(1));
    CHECK(gone.is_null());

    // Nothing left: no domain, no volume of the instance, no console log or seed file.
    CHECK(virsh({"list", "--all", "--name"}).find(domain) == std::string::npos);
    auto volumes = virsh({"vol-list", daemon.poolName()});
    CHECK(volumes.find(id) == std::string::npos);
    for (const auto& entry : fs::recursive_directory_iterator(daemon.dir() / "state")) {
        CHECK_MESSAGE(entry.path().string().find(id) == std::string::npos, entry.path().string());
    }
    CHECK(daemon.stop() == 0);
}

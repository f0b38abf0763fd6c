// End-to-end: one filesystem, two VMs on qemu:///system (TCG). A file written in one
// guest is read from the other through virtiofs, writing past the size fails in the
// guest, the filesystem cannot be deleted while attached, and afterwards it can, with
// its mount and image gone.
#include <doctest/doctest.h>

#include "../integration/api_helpers.hpp"
#include "e2e_helpers.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using nlohmann::json;

namespace {

// Runs a shell line in the guest until its output contains `expect` (the guest agent and
// cloud-init's mount come some seconds after boot).
std::string guestShellUntil(const std::string& domain, const std::string& line, const std::string& expect) {
    std::string output;
    auto deadline = std::chrono::steady_clock::now() + kBootTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        output = guestExec(domain, {"/bin/sh", "-c", line}).value_or("");
        if (output.find(expect) != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    return output;
}

}  // namespace

TEST_CASE("e2e: two VMs share one filesystem through virtiofs, and its size holds in the guest") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends
    Daemon daemon(e2eConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    auto project = createProject(daemon.port(), "shared");

    auto created = httpRequest(daemon.port(), "POST", kBase + "/filesystems", inProject(project, true),
                               R"({"name":"shared","size":"64Mi"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string filesystem = json::parse(created.body).at("id");
    std::vector<std::string> ids;
    for (const char* name : {"writer", "reader"}) {
        json body{{"name", name}, {"type", "e2e.tiny"}, {"filesystems", {filesystem}}};
        // The filesystem may still be `creating`: 409 until it is available.
        HttpResponse made;
        for (int i = 0; i < 100; ++i) {
            made = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               body.dump());
            if (made.status != 409) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        REQUIRE_MESSAGE(made.status == 201, made.body);
        ids.push_back(json::parse(made.body).at("id"));
    }
    for (const auto& id : ids) {
        auto running = waitForState(daemon.port(), project, id, "running", kBootTimeout);
        std::string context = running.dump() + "\n" + daemon.log();
        REQUIRE_MESSAGE(running.at("state") == "running", context);
    }
    std::string writer = "gpuhost-" + ids[0], reader = "gpuhost-" + ids[1];

    auto wrote = guestShellUntil(
        writer,
        "mountpoint -q /mnt/shared && echo hello-from-writer > /mnt/shared/note && cat /mnt/shared/note",
        "hello-from-writer");
    std::string why = "the writer never mounted /mnt/shared: " + wrote;
    REQUIRE_MESSAGE(wrote.find("hello-from-writer") != std::string::npos, why);
    auto read = guestShellUntil(reader, "cat /mnt/shared/note", "hello-from-writer");
    CHECK(read.find("hello-from-writer") != std::string::npos);

    // 100 MiB into 64 MiB: the guest gets ENOSPC.
    auto full =
        guestExec(reader, {"/bin/sh", "-c", "dd if=/dev/zero of=/mnt/shared/big bs=1M count=100 2>&1; true"});
    REQUIRE(full.has_value());
    CHECK(full->find("No space left on device") != std::string::npos);

    auto refused =
        httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + filesystem, inProject(project));
    CHECK(refused.status == 409);
    for (const auto& id : ids) {
        REQUIRE(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project)).status ==
                204);
    }
    for (const auto& id : ids) {
        auto gone = pollInstance(
            daemon.port(), project, id, [](const json& b) { return b.is_null(); }, std::chrono::minutes(2));
        CHECK(gone.is_null());
    }
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + filesystem, inProject(project))
              .status == 204);
    auto mountPoint = daemon.dir() / "state" / "filesystems" / ("gpuhost-fs-" + filesystem);
    for (int i = 0; i < 100 && fs::exists(mountPoint); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_FALSE(fs::exists(mountPoint));
    CHECK(virsh({"pool-list", "--all", "--name"}).find(filesystem) == std::string::npos);
    CHECK(daemon.stop() == 0);
}

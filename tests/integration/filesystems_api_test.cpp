// Filesystems over real HTTP: on libvirt's test driver (test:///default) the API and
// the attach rules; on qemu:///system the real backing (libvirt formats and
// loop-mounts a sparse ext4 image), where writing past the size fails with ENOSPC.
#include <doctest/doctest.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <thread>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

json waitForFilesystem(Daemon& daemon, const std::string& project, const std::string& id,
                       const std::string& state) {
    for (int i = 0; i < 400; ++i) {
        auto got = httpRequest(daemon.port(), "GET", kBase + "/filesystems/" + id, inProject(project));
        REQUIRE(got.status == 200);
        auto body = json::parse(got.body);
        if (body.at("state") == state) {
            return body;
        }
        REQUIRE_MESSAGE(body.at("state") != "error", got.body);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("filesystem never reached " << state);
    return {};
}

bool gone(Daemon& daemon, const std::string& project, const std::string& path) {
    for (int i = 0; i < 400; ++i) {
        if (httpRequest(daemon.port(), "GET", kBase + path, inProject(project)).status == 404) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE("filesystems API: create, attach, 409 while attached, 204 after, bad input names the field") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "data-team");
    auto created = postInProject(daemon, project, "/filesystems", R"({"name":"datasets","size":"512Gi"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    auto filesystem = json::parse(created.body);
    CHECK(filesystem.at("size") == "512Gi");
    auto id = filesystem.at("id").get<std::string>();
    waitForFilesystem(daemon, project, id, "available");
    CHECK(postInProject(daemon, project, "/filesystems", R"({"name":"datasets","size":"1Gi"})").status ==
          409);

    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"name":"x","size":"0Gi"})", "size"},
        {R"({"name":"x","size":"1GB"})", "size"},
        {R"({"name":"x","size":"1024"})", "size"},
        {R"({"name":"x","size":""})", "size"},
        {R"({"name":"x","size":"17Ti"})", "size"},
        {R"({"name":"x","size":"512Ki"})", "size"},
        {R"({"name":"x","size":512})", "size"},
        {R"({"name":"x"})", "size"},
        {R"({"name":"X Y","size":"1Gi"})", "name"},
        {R"({"size":"1Gi"})", "name"},
        {R"({"name":"x","size":"1Gi","host":"a"})", "host"},
        {R"({"name":"x","size":"01Gi"})", "size"},
        {R"({"name":"../../etc","size":"1Gi"})", "name"},
        {R"({"name":"x","size":"-1Gi"})", "size"},
    };
    for (const auto& [body, field] : bad) {
        CAPTURE(body);
        auto response = postInProject(daemon, project, "/filesystems", body);
        CHECK(response.status == 400);
        CHECK(json::parse(response.body).at("message").get<std::string>().find(field) != std::string::npos);
    }
    auto listed =
        json::parse(httpRequest(daemon.port(), "GET", kBase + "/filesystems", inProject(project)).body);
    CHECK(listed.size() == 1);  // nothing of the refused ones was stored

    // Two instances attach it; another project cannot see it; listing it twice is 400.
    for (const char* name : {"a", "b"}) {
        auto instance =
            postInProject(daemon, project, "/instances",
                          json{{"name", name}, {"type", "cpu.small"}, {"filesystems", {id}}}.dump());
        REQUIRE_MESSAGE(instance.status == 201, instance.body);
        waitForState(daemon.port(), project, json::parse(instance.body).at("id"), "running");
    }
    CHECK(postInProject(daemon, project, "/instances",
                        json{{"name", "c"}, {"type", "cpu.small"}, {"filesystems", {id, id}}}.dump())
              .status == 400);
    auto other = createProject(daemon.port(), "other-team");
    CHECK(postInProject(daemon, other, "/instances",
                        json{{"name", "x"}, {"type", "cpu.small"}, {"filesystems", {id}}}.dump())
              .status == 404);
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/filesystems/" + id, inProject(other)).status == 404);
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + id, inProject(other)).status == 404);

    auto refused = httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + id, inProject(project));
    CHECK(refused.status == 409);
    CHECK(refused.body.find("attached") != std::string::npos);
    auto instances =
        json::parse(httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project)).body);
    for (const auto& instance : instances) {
        auto path = "/instances/" + instance.at("id").get<std::string>();
        CHECK(httpRequest(daemon.port(), "DELETE", kBase + path, inProject(project)).status == 204);
        CHECK(gone(daemon, project, path));
    }
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + id, inProject(project)).status ==
          204);
    CHECK(gone(daemon, project, "/filesystems/" + id));
    // A project with a filesystem cannot be deleted; without, it can.
    auto kept = postInProject(daemon, other, "/filesystems", R"({"name":"keep","size":"1Gi"})");
    REQUIRE(kept.status == 201);
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/projects/" + other, bearer(Daemon::kOperatorToken))
              .status == 409);
}

TEST_CASE(
    "filesystems on qemu:///system: a real size limit (ENOSPC), re-mounted after a restart, removed on "
    "delete") {
    Daemon daemon("", "127.0.0.1:0", "qemu:///system");
    daemon.start();
    auto project = createProject(daemon.port(), "quota");
    auto created = postInProject(daemon, project, "/filesystems", R"({"name":"small","size":"32Mi"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    auto id = json::parse(created.body).at("id").get<std::string>();
    waitForFilesystem(daemon, project, id, "available");
    auto mountPoint = daemon.dir() / "state" / "filesystems" / ("gpuhost-fs-" + id);
    struct statvfs fs {};
    REQUIRE(statvfs(mountPoint.c_str(), &fs) == 0);
    CHECK(fs.f_blocks * fs.f_frsize <= 32ull << 20);  // the kernel's view: at most the size
    // Guests are root in there: no setuid binaries or device nodes may work on the host.
    CHECK((fs.f_flag & ST_NOSUID) != 0);
    CHECK((fs.f_flag & ST_NODEV) != 0);

    // Write 40 MiB into 32 MiB: the write fails with ENOSPC, nothing beyond the limit lands.
    std::FILE* file = std::fopen((mountPoint / "big").c_str(), "wb");
    REQUIRE(file != nullptr);
    std::vector<char> chunk(1 << 20, 'x');
    int error = 0;
    for (int i = 0; i < 40 && error == 0; ++i) {
        if (std::fwrite(chunk.data(), 1, chunk.size(), file) != chunk.size() || std::fflush(file) != 0) {
            error = errno;
        }
    }
    std::fclose(file);
    CHECK(error == ENOSPC);

    // libvirt mounts it again at boot (autostart); unmounted while the agent is down (as
    // after a reboot before libvirtd came up), the agent mounts it again when it starts.
    auto pool = "gpuhost-fs-" + id;
    CHECK(std::system(
              ("virsh -q -c qemu:///system pool-info " + pool + " | grep -q 'Autostart: *yes'").c_str()) ==
          0);
    daemon.stop();
    CHECK(std::system(("umount '" + mountPoint.string() + "'").c_str()) == 0);
    CHECK_FALSE(std::filesystem::exists(mountPoint / "big"));
    daemon.start();
    for (int i = 0; i < 100 && !std::filesystem::exists(mountPoint / "big"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(std::filesystem::exists(mountPoint / "big"));

    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/filesystems/" + id, inProject(project)).status ==
          204);
    CHECK(gone(daemon, project, "/filesystems/" + id));
    CHECK_FALSE(std::filesystem::exists(mountPoint));
    CHECK(std::system(
              ("virsh -q -c qemu:///system pool-info gpuhost-fs-" + id + " >/dev/null 2>&1").c_str()) != 0);
    CHECK(std::system(("virsh -q -c qemu:///system vol-info --pool " + daemon.poolName() + " gpuhost-fs-" +
                       id + ".img >/dev/null 2>&1")
                          .c_str()) != 0);
}

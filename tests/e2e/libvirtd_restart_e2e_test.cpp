// The system libvirtd killed (SIGKILL) under a running VM, then started again: QEMU keeps
// running without it, so the daemon must show the host as unreachable meanwhile, refuse
// creates with 503, and once libvirtd is back adopt the very same QEMU process as
// `running` (not restart it). This kills the libvirtd every other test uses, so it runs
// alone (RUN_SERIAL, see tests/CMakeLists.txt); scripts/ensure-libvirtd.sh brings it back.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdlib>

#include "../integration/api_helpers.hpp"
#include "e2e_helpers.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using nlohmann::json;

namespace {

std::string qemuPid(const std::string& domain) {
    return readFile(fs::path("/run/libvirt/qemu") / (domain + ".pid"));
}

int ensureLibvirtd() {
    return std::system((fs::path(GPUHOST_SOURCE_DIR) / "scripts/ensure-libvirtd.sh").c_str());
}

// Restores libvirtd however the test ends: every later test needs it.
struct LibvirtdGuard {
    ~LibvirtdGuard() { (void)ensureLibvirtd(); }
};

}  // namespace

TEST_CASE(
    "e2e: libvirtd killed under a running VM, the daemon adopts the same QEMU process once it is back") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends
    LibvirtdGuard guard;
    Daemon daemon(e2eConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    auto project = createProject(daemon.port(), "libvirtd-restart");
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"survivor","type":"e2e.tiny"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string id = json::parse(created.body).at("id");
    std::string domain = "gpuhost-" + id;
    REQUIRE(waitForState(daemon.port(), project, id, "running", kBootTimeout).at("state") == "running");
    auto pidBefore = qemuPid(domain);
    REQUIRE_FALSE(pidBefore.empty());

    REQUIRE(std::system("pkill -KILL -x libvirtd") == 0);
    auto shown = pollInstance(daemon.port(), project, id, [](const json& body) {
        return body.is_object() && body.value("reason", "").find("unreachable") != std::string::npos;
    });
    CHECK(shown.at("state") == "error");
    CHECK(::kill(std::stoi(pidBefore), 0) == 0);  // QEMU runs on without libvirtd
    auto refused = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"during","type":"e2e.tiny"})");
    CHECK(refused.status == 503);

    auto restarted = std::chrono::steady_clock::now();
    REQUIRE(ensureLibvirtd() == 0);
    auto back = pollInstance(
        daemon.port(), project, id,
        [](const json& body) {
            return body.is_object() && body.at("state") == "running" && !body.contains("reason");
        },
        std::chrono::seconds(60));
    MESSAGE("running again " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - restarted)
                                    .count()
                             << " ms after libvirtd was started again");
    CHECK_MESSAGE(back.at("state") == "running", back.dump() << "\n" << daemon.log());
    CHECK(qemuPid(domain) == pidBefore);  // adopted, not restarted
    CHECK(virsh({"domstate", domain}).find("running") != std::string::npos);

    REQUIRE(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + id, inProject(project)).status ==
            204);
    auto gone = pollInstance(
        daemon.port(), project, id, [](const json& body) { return body.is_null(); },
        std::chrono::seconds(60));
    CHECK(gone.is_null());
    CHECK(virsh({"domstate", domain}).empty());
    CHECK(daemon.stop() == 0);
}

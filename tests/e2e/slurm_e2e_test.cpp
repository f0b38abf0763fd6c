// A Slurm cluster on qemu:///system (TCG) with the Slurm dev image, through the API: a
// controller and one node reach READY with the node idle; a user added through the API
// exists on both VMs with its key and sudo rule, and a job submitted as that user runs;
// the pool scales to 2 and back to 1 with no ghost node in sinfo; delete leaves no domain,
// volume or seed behind. One cluster serves every step (VM boots are the cost here).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "../integration/api_helpers.hpp"
#include "cluster_client.hpp"
#include "e2e_helpers.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;
using namespace std::literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const fs::path kSlurmImage = fs::path(GPUHOST_SOURCE_DIR) / "images/cache/debian12-slurm";
const std::string kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";

std::string slurmConfig() {
    return "images:\n  debian12-slurm:\n    path: " + (kSlurmImage / "root.qcow2").string() +
           "\n    kernel: " + (kSlurmImage / "vmlinuz").string() +
           "\n    initrd: " + (kSlurmImage / "initrd.img").string() + "\n    cmdline: \"" +
           readFile(kSlurmImage / "cmdline") +
           "\"\n"
           "slurm:\n  image: debian12-slurm\n"
           "instance_types:\n  - {name: e2e.tiny, cpu: 1, memory: 768Mi}\n"
           "capacity:\n  cpu_overcommit: 4\n"
           "libvirt:\n  uri: qemu:///system\n  virt_type: qemu\n  pool: @POOL@\n"
           "  tcg_cache_mib: 128\n  shutdown_timeout_s: 30\n  resync_interval_s: 300\n";
}

bool ready(const json& view, std::size_t nodes) {
    if (view["status"]["type"] != "READY" || view["nodePools"].size() != 1 ||
        view["nodePools"][0]["nodes"].size() != nodes) {
        return false;
    }
    for (const auto& node : view["nodePools"][0]["nodes"]) {
        if (node["states"].empty() || node["states"][0] != "IDLE") {
            return false;
        }
    }
    return true;
}

std::string domainOf(const json& node) {
    return "gpuhost-" + node["instanceID"].get<std::string>();
}

// The node names slurmctld lists, as sinfo prints them on the controller.
std::string sinfoNodes(const std::string& controller) {
    return guestExec(controller, {"sinfo", "-h", "-N", "-o", "%N"}).value_or("(no answer)");
}

}  // namespace

TEST_CASE("e2e: a Slurm cluster boots, runs a user's job, scales up and down without ghosts, and goes") {
    REQUIRE_MESSAGE(fs::exists(kSlurmImage / "root.qcow2"), "run images/build-dev-image.sh --slurm first");
    requireDefaultNetwork();
    HostCleanup cleanup;  // before the daemon: sweeps after it is gone, however the test ends

    Daemon daemon(slurmConfig(), "127.0.0.1:0", "qemu:///system");
    cleanup.root = daemon.dir().string();
    daemon.start();
    ClusterClient api{daemon.port(), createProject(daemon.port(), "e2e-slurm"), "/slurm/clusters", {}};

    auto started = Clock::now();
    auto created = api.call("POST", "/slurm/clusters",
                            R"({"name":"e2e","nodePools":[{"name":"cpu","type":"e2e.tiny","count":1}]})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    api.cluster = json::parse(created.body).at("id");

    auto view = api.waitFor([](const json& v) { return ready(v, 1); });
    REQUIRE_MESSAGE(ready(view, 1), view.dump(2) << "\n" << daemon.log());
    MESSAGE("POST to READY with cpu-0 idle: "
            << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count() << " s");
    CHECK(view["version"].get<std::string>().starts_with("22.05"));
    const auto controller = domainOf(view["controller"]);
    const auto node = domainOf(view["nodePools"][0]["nodes"][0]);
    CHECK(view["nodePools"][0]["nodes"][0]["slurmdVersion"].get<std::string>().starts_with("22.05"));
    CHECK(view["loginNodes"][0]["instanceID"] == view["controller"]["instanceID"]);

    // A user with a key and sudo, on both VMs, then a job as that user.
    auto user = api.call("POST", "/slurm/clusters/" + api.cluster + "/users",
                         json{{"username", "alice"}, {"sshKeys", {kKey}}, {"sudo", true}}.dump());
    REQUIRE_MESSAGE(user.status == 201, user.body);
    auto deadline = Clock::now() + 5min;
    json users;
    while (Clock::now() < deadline) {
        users = json::parse(api.call("GET", "/slurm/clusters/" + api.cluster + "/users").body);
        if (users.size() == 1 && users[0]["applied"] == true) {
            break;
        }
        std::this_thread::sleep_for(2s);
    }
    REQUIRE_MESSAGE(users[0]["applied"] == true, users.dump() << "\n" << daemon.log());
    for (const auto& domain : {controller, node}) {
        auto passwd = guestExec(domain, {"getent", "passwd", "alice"});
        REQUIRE(passwd.has_value());
        CHECK(passwd->find("alice:x:20000:20000:") == 0);
        CHECK(guestExec(domain, {"cat", "/home/alice/.ssh/authorized_keys"}) == kKey + "\n");
        CHECK(guestExec(domain, {"stat", "-c", "%a %U", "/home/alice/.ssh/authorized_keys"}) ==
              "600 alice\n");
        CHECK(guestExec(domain, {"sudo", "-l", "-U", "alice"}).value_or("").find("NOPASSWD: ALL") !=
              std::string::npos);
    }
    auto job =
        guestExec(controller, {"runuser", "-u", "alice", "--", "srun", "-N1", "-w", "cpu-0", "id", "-un"});
    CHECK_MESSAGE(job == "alice\n", job.value_or("(no answer)"));

    // Scale to 2 and back to 1: the leaving node is drained and removed before its VM goes.
    auto up = api.call("PATCH", "/slurm/clusters/" + api.cluster + "/node-pools/cpu", R"({"count":2})");
    REQUIRE_MESSAGE(up.status / 100 == 2, up.body);
    view = api.waitFor([](const json& v) { return ready(v, 2); });
    REQUIRE_MESSAGE(ready(view, 2), view.dump(2) << "\n" << daemon.log());
    // The new node got the existing user at its first boot.
    auto second = domainOf(view["nodePools"][0]["nodes"][1]);
    CHECK(guestExec(second, {"getent", "passwd", "alice"}).value_or("").find("alice:x:20000:") == 0);
    CHECK(sinfoNodes(controller) == "cpu-0\ncpu-1\n");

    auto down = api.call("PATCH", "/slurm/clusters/" + api.cluster + "/node-pools/cpu", R"({"count":1})");
    REQUIRE_MESSAGE(down.status / 100 == 2, down.body);
    view = api.waitFor([&](const json& v) { return ready(v, 1) && virsh({"domstate", second}).empty(); });
    REQUIRE_MESSAGE(ready(view, 1), view.dump(2) << "\n" << daemon.log());
    CHECK(sinfoNodes(controller) == "cpu-0\n");  // no ghost of cpu-1

    // Delete: DELETING until the VMs are gone, then 404, and nothing left on the host.
    CHECK(api.removeAndWait());
    for (const auto& domain : {controller, node, second}) {
        CHECK(virsh({"domstate", domain}).empty());
    }
    auto volumes = virsh({"vol-list", "--pool", daemon.poolName()});
    CHECK_MESSAGE(volumes.find(controller.substr(8)) == std::string::npos, volumes);
    CHECK_MESSAGE(volumes.find(node.substr(8)) == std::string::npos, volumes);
    auto instances = json::parse(api.call("GET", "/instances").body);
    CHECK(instances.empty());
    MESSAGE("whole test: " << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started).count()
                           << " s");
}

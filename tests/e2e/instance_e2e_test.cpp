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
#include "json_mapping.hpp"
#include "process/process.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kImage = fs::path(GPUHOST_SOURCE_DIR) / "images/cache/debian12";
constexpr auto kBootTimeout = std::chrono::minutes(5);

std::string virsh(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"virsh", "-c", "qemu:///system"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = drivers::runProcess(argv, std::chrono::seconds(30));
    return result.ok() && result->exitCode == 0 ? result->output : std::string();
}

std::optional<json> agentCommand(const std::string& domain, const json& command) {
    auto output = virsh({"qemu-agent-command", domain, command.dump()});
    auto parsed = json::parse(output, nullptr, false);
    return parsed.is_object() ? std::optional<json>(parsed) : std::nullopt;
}

// Runs argv in the guest through the agent; its stdout once it exits.
std::optional<std::string> guestExec(const std::string& domain, const std::vector<std::string>& argv) {
    auto started = agentCommand(domain, {{"execute", "guest-exec"},
                                         {"arguments",
                                          {{"path", argv[0]},
                                           {"arg", std::vector<std::string>(argv.begin() + 1, argv.end())},
                                           {"capture-output", true}}}});
    if (!started) {
        return std::nullopt;
    }
    int pid = (*started)["return"]["pid"];
    for (int i = 0; i < 100; ++i) {
        auto status = agentCommand(domain, {{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}});
        if (status && (*status)["return"]["exited"].get<bool>()) {
            auto encoded = (*status)["return"].value("out-data", std::string());
            auto decoded = api::decodeBase64Field(encoded, "out-data");
            return decoded.ok() ? *decoded : std::string();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

std::string base64(const std::string& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int length =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(length));
    return out;
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto content = text.str();
    while (!content.empty() && content.back() == '\n') {
        content.pop_back();
    }
    return content;
}

}  // namespace

TEST_CASE(
    "e2e: an instance made through the API boots, runs the user's cloud-init, stops, starts and is deleted") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    (void)drivers::runProcess({"virsh", "-c", "qemu:///system", "net-start", "default"});  // may be active

    std::string images = "images:\n  ubuntu22.04:\n    path: " + (kImage / "root.qcow2").string() +
                         "\n    kernel: " + (kImage / "vmlinuz").string() +
                         "\n    initrd: " + (kImage / "initrd.img").string() + "\n    cmdline: \"" +
                         readFile(kImage / "cmdline") + "\"\n";
    std::string types = "instance_types:\n  - {name: e2e.tiny, cpu: 1, memory: 768Mi}\n";
    // A longer ACPI timeout than the integration tier's, and a smaller TCG cache.
    std::string libvirt =
        "libvirt:\n  uri: qemu:///system\n  virt_type: qemu\n  pool: @POOL@\n"
        "  tcg_cache_mib: 128\n  shutdown_timeout_s: 60\n  resync_interval_s: 300\n";
    Daemon daemon(images + types + libvirt, "127.0.0.1:0", "qemu:///system");
    struct PoolCleanup {
        std::string pool;
        ~PoolCleanup() {
            virsh({"pool-destroy", pool});
            virsh({"pool-undefine", pool});
        }
    } poolCleanup{daemon.poolName()};
    daemon.start();
    auto project = createProject(daemon.port(), "e2e");

    std::string userData = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo gpuhost-api-e2e > /var/tmp/marker']\n";
    auto created =
        httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                    R"({"name":"e2e-vm","type":"e2e.tiny","userData":")" + base64(userData) + "\"}");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string id = json::parse(created.body).at("id");
    std::string domain = "gpuhost-" + id;

    auto running = waitForState(daemon.port(), project, id, "running");
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
    CHECK(waitForState(daemon.port(), project, id, "running").at("state") == "running");
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

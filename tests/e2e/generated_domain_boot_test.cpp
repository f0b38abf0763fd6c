// End-to-end (real qemu:///system, TCG here): a domain built only from gpuhost's own
// generators — domain XML, meta-data, network-config, user-data and the seed ISO — boots
// the dev image and runs the user's cloud-config. Proves the generators before the
// instance service drives them. Needs root, libvirtd and images/build-dev-image.sh.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "libvirt/domain_xml.hpp"
#include "libvirt/libvirt_storage.hpp"
#include "process/process.hpp"
#include "seed.hpp"
#include "seed/seed_iso.hpp"

using namespace gpuhost;
using namespace gpuhost::drivers;
using namespace gpuhost::drivers::libvirt;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kImage = fs::path(GPUHOST_SOURCE_DIR) / "images/cache/debian12";

std::string run(const std::vector<std::string>& argv) {
    auto result = runProcess(argv, std::chrono::seconds(120));
    REQUIRE_MESSAGE(result.ok(), result.error().message);
    std::string context = argv[0] + " " + argv[1] + ": " + result->output;
    REQUIRE_MESSAGE(result->exitCode == 0, context);
    return result->output;
}

std::optional<json> agent(const std::string& domain, const json& command) {
    auto result = runProcess({"virsh", "-c", "qemu:///system", "qemu-agent-command", domain, command.dump()},
                             std::chrono::seconds(10));
    if (!result.ok() || result->exitCode != 0) {
        return std::nullopt;
    }
    auto parsed = json::parse(result->output, nullptr, false);
    return parsed.is_discarded() ? std::nullopt : std::optional<json>(parsed);
}

// Runs a command in the guest through the agent and returns its stdout once it exits.
std::optional<std::string> guestExec(const std::string& domain, const std::vector<std::string>& argv) {
    auto started = agent(domain, {{"execute", "guest-exec"},
                                  {"arguments",
                                   {{"path", argv[0]},
                                    {"arg", std::vector<std::string>(argv.begin() + 1, argv.end())},
                                    {"capture-output", true}}}});
    if (!started) {
        return std::nullopt;
    }
    int pid = (*started)["return"]["pid"];
    for (int i = 0; i < 100; ++i) {
        auto status = agent(domain, {{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}});
        if (status && (*status)["return"]["exited"].get<bool>()) {
            auto& value = (*status)["return"];
            std::string encoded = value.contains("out-data") ? value["out-data"].get<std::string>() : "";
            auto decoded = runProcess({"sh", "-c", "printf %s \"$0\" | base64 -d", encoded});
            return decoded.ok() ? decoded->output : "";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

struct Scratch {
    Scratch() {
        char pattern[] = "/var/tmp/gpuhost-e2e-XXXXXX";
        path = mkdtemp(pattern);
        chmod(path.c_str(), 0755);  // QEMU runs as libvirt-qemu and must reach the files
    }
    ~Scratch() { fs::remove_all(path); }
    fs::path path;
};

}  // namespace

TEST_CASE("e2e: a domain made by gpuhost's generators boots and runs the user's cloud-config") {
    REQUIRE_MESSAGE(fs::exists(kImage / "root.qcow2"), "run images/build-dev-image.sh first");
    auto network = runProcess({"virsh", "-c", "qemu:///system", "net-start", "default"});
    REQUIRE(network.ok());  // "already active" is fine

    Scratch scratch;
    auto instance = model::Uuid::random();
    std::string domain = domainName(instance);
    DomainSpec spec;
    spec.instanceId = instance;
    spec.agentId = model::Uuid::random();
    spec.projectId = model::Uuid::random();
    spec.hostname = "e2e-vm";
    spec.vcpus = 1;
    spec.memoryBytes = 1ull << 30;
    spec.accelerator = Accelerator::Tcg;
    spec.tcgCacheMiB = 128;
    spec.consoleLog = (scratch.path / "console.log").string();
    spec.macAddress = macAddressFor(instance);
    spec.kernel = (kImage / "vmlinuz").string();
    spec.initrd = (kImage / "initrd.img").string();
    spec.cmdline = "root=/dev/vda rw console=ttyS0";

    // Disks through libvirt's storage API, as the agent will make them: an O(1) overlay on
    // the dev image and the seed ISO streamed into the pool.
    Connection connection("qemu:///system");
    std::string poolName = "gpuhost-e2e-" + instance.str().substr(0, 8);
    LibvirtStorage storage(connection, poolName, scratch.path / "pool");
    struct PoolCleanup {
        std::string pool;
        ~PoolCleanup() {
            (void)runProcess({"virsh", "-c", "qemu:///system", "pool-destroy", pool});
            (void)runProcess({"virsh", "-c", "qemu:///system", "pool-undefine", pool});
        }
    } poolCleanup{poolName};
    REQUIRE(storage.ensurePool().ok());
    auto root =
        storage.createOverlay(instance.str() + "-root.qcow2", (kImage / "root.qcow2").string(), "qcow2", 0);
    REQUIRE_MESSAGE(root.ok(), (root.ok() ? "" : root.error().message));
    spec.rootDisk = root->path;

    std::string user = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo gpuhost-e2e-marker > /var/tmp/marker']\n";
    auto userData = cloudinit::userData(user, {});
    REQUIRE(userData.ok());
    auto isoFile = scratch.path / "seed-build.iso";
    REQUIRE(writeSeedIso({*userData, cloudinit::metaData(instance, spec.hostname),
                          cloudinit::networkConfig(spec.macAddress)},
                         isoFile)
                .ok());
    auto seed = storage.importFile(instance.str() + "-seed.iso", isoFile);
    REQUIRE_MESSAGE(seed.ok(), (seed.ok() ? "" : seed.error().message));
    spec.seedIso = seed->path;
    std::ofstream(scratch.path / "domain.xml") << buildDomainXml(spec);
    run({"virsh", "-c", "qemu:///system", "define", (scratch.path / "domain.xml").string()});
    struct Cleanup {
        std::string domain;
        ~Cleanup() {
            (void)runProcess({"virsh", "-c", "qemu:///system", "destroy", domain});
            (void)runProcess({"virsh", "-c", "qemu:///system", "undefine", domain});
        }
    } cleanup{domain};
    run({"virsh", "-c", "qemu:///system", "start", domain});

    auto start = std::chrono::steady_clock::now();
    std::optional<std::string> marker;
    while (std::chrono::steady_clock::now() - start < std::chrono::minutes(4)) {
        marker = guestExec(domain, {"/bin/cat", "/var/tmp/marker"});
        if (marker && !marker->empty()) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("marker after " << seconds << " s");
    REQUIRE(marker.has_value());
    CHECK(*marker == "gpuhost-e2e-marker\n");
    auto hostname = guestExec(domain, {"/bin/hostname"});
    REQUIRE(hostname.has_value());
    CHECK(*hostname == "e2e-vm\n");
    REQUIRE(storage.deleteVolume(instance.str() + "-root.qcow2").ok());
    REQUIRE(storage.deleteVolume(instance.str() + "-seed.iso").ok());
}

// The e2e sweep: what a crashed or failed e2e run left on qemu:///system (a domain, a dir
// pool and a mounted fs pool under a test folder) is gone after sweepLeftovers, and
// nothing outside that folder is touched.
#include <doctest/doctest.h>

#include "../support/temp_dir.hpp"
#include "e2e_helpers.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using namespace gpuhost::test::e2e;

namespace {

bool listed(const std::vector<std::string>& listing, const std::string& name) {
    return std::find(listing.begin(), listing.end(), name) != listing.end();
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

bool mounted(const fs::path& point) {
    return readFile("/proc/mounts").find(" " + point.string() + " ") != std::string::npos;
}

}  // namespace

TEST_CASE("e2e: the sweep removes a crashed run's domain, pools and mount, and nothing else") {
    TempDir leftover("gpuhost-test-sweep");
    auto suffix = leftover.path.filename().string().substr(std::string("gpuhost-test-sweep-").size());
    for (auto& c : suffix) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::string domain = "gpuhost-sweep-" + suffix, pool = "gpuhost-test-sweep-" + suffix,
                fsPool = "gpuhost-fs-sweep-" + suffix;
    auto disk = leftover.path / "pool" / "root.qcow2";
    fs::create_directories(disk.parent_path());
    fs::create_directories(leftover.path / "fs");
    REQUIRE(
        drivers::runProcess({"qemu-img", "create", "-q", "-f", "qcow2", disk.string(), "16M"})->exitCode ==
        0);
    auto image = leftover.path / "fs.img";
    REQUIRE(drivers::runProcess({"truncate", "-s", "16M", image.string()})->exitCode == 0);
    REQUIRE(drivers::runProcess({"mkfs.ext4", "-q", image.string()})->exitCode == 0);

    auto defineFrom = [&](const std::vector<std::string>& command, const std::string& xml) {
        auto file = leftover.path / "def.xml";
        std::ofstream(file) << xml;
        auto argv = std::vector<std::string>{"virsh", "-c", "qemu:///system"};
        argv.insert(argv.end(), command.begin(), command.end());
        argv.push_back(file.string());
        auto result = drivers::runProcess(argv, std::chrono::seconds(60));
        REQUIRE_MESSAGE((result.ok() && result->exitCode == 0), (result.ok() ? result->output : ""));
    };
    defineFrom({"define"}, "<domain type='qemu'><name>" + domain +
                               "</name><memory unit='MiB'>64</memory><os><type arch='x86_64' "
                               "machine='q35'>hvm</type></os><devices><disk type='file' device='disk'>"
                               "<driver name='qemu' type='qcow2'/><source file='" +
                               disk.string() +
                               "'/><target dev='vda' bus='virtio'/></disk></devices></domain>");
    defineFrom({"pool-create"}, "<pool type='dir'><name>" + pool + "</name><target><path>" +
                                    (leftover.path / "pool").string() + "</path></target></pool>");
    defineFrom({"pool-define"}, "<pool type='fs'><name>" + fsPool + "</name><source><device path='" +
                                    image.string() + "'/><format type='ext4'/></source><target><path>" +
                                    (leftover.path / "fs").string() + "</path></target></pool>");
    REQUIRE(drivers::runProcess({"virsh", "-c", "qemu:///system", "pool-start", fsPool})->exitCode == 0);
    REQUIRE(mounted(leftover.path / "fs"));

    auto removed = sweepLeftovers(leftover.path.string());
    CHECK(listed(removed, "domain " + domain));
    CHECK(listed(removed, "pool " + pool));
    CHECK(listed(removed, "pool " + fsPool));
    CHECK_FALSE(listed(lines(virsh({"list", "--all", "--name"})), domain));
    auto pools = lines(virsh({"pool-list", "--all", "--name"}));
    CHECK_FALSE(listed(pools, pool));
    CHECK_FALSE(listed(pools, fsPool));
    CHECK_FALSE(mounted(leftover.path / "fs"));
    CHECK(listed(lines(virsh({"net-list", "--all", "--name"})), "default"));  // untouched
}

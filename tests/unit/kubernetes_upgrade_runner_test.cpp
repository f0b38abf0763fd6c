// The node upgrade runner and its launch, run for real with /bin/sh against stand-ins for
// apt-get, apt-mark, kubeadm and systemctl that record their arguments: the order of the
// steps per mode, the pinned packages, the markers, and that a failed step stops the rest.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "node_upgrade.hpp"
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;
using namespace std::chrono_literals;

namespace {

struct RunnerSandbox {
    test::TempDir dir{"gpuhost-upgrade"};
    std::filesystem::path bin = dir.path / "bin";
    std::filesystem::path calls = dir.path / "calls";

    RunnerSandbox() {
        std::filesystem::create_directories(bin);
        for (const char* tool : {"apt-get", "apt-mark", "kubeadm", "systemctl", "env"}) {
            std::ofstream stub(bin / tool);
            // `env` stands in for coreutils' env so DEBIAN_FRONTEND=... reaches the record too.
            stub << "#!/bin/sh\nprintf '%s\\n' \"" << tool << " $*\" >>'" << calls.string() << "'\n"
                 << "[ \"" << tool << "\" != \"$FAIL_TOOL\" ] || exit 7\n";
            stub.close();
            std::filesystem::permissions(bin / tool, std::filesystem::perms::owner_all);
        }
        std::ofstream(dir.path / "runner") << kubernetes::upgradeRunnerScript();
    }
    test::CommandResult run(const std::vector<std::string>& args, const std::string& failTool = "") {
        std::vector<std::string> argv{"/bin/sh", (dir.path / "runner").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto env = test::environmentWith({"PATH=" + bin.string() + ":/usr/bin:/bin", "FAIL_TOOL=" + failTool});
        return test::runCommand(argv, env, dir.path, 30s);
    }
    std::vector<std::string> args(const std::string& mode, const std::string& revision) {
        return {mode,
                "1.32.5",
                revision,
                (dir.path / "failed").string(),
                (dir.path / "done").string(),
                (dir.path / "log").string()};
    }
    std::string recorded() { return std::filesystem::exists(calls) ? test::readText(calls) : ""; }
};

}  // namespace

TEST_CASE("kubernetes upgrade runner: apply on the control plane installs pinned packages around kubeadm") {
    RunnerSandbox box;
    auto result = box.run(box.args("apply", "1.1"));
    CHECK(result.exitCode == 0);
    CHECK(box.recorded() ==
          "apt-get update\n"
          "apt-mark unhold kubeadm kubelet kubectl\n"
          "env DEBIAN_FRONTEND=noninteractive apt-get install -y kubeadm=1.32.5-1.1\n"
          "kubeadm upgrade apply --yes v1.32.5\n"
          "env DEBIAN_FRONTEND=noninteractive apt-get install -y kubelet=1.32.5-1.1 kubectl=1.32.5-1.1\n"
          "apt-mark hold kubeadm kubelet kubectl\n"
          "systemctl daemon-reload\n"
          "systemctl restart kubelet\n");
    CHECK(std::filesystem::exists(box.dir.path / "done"));
    CHECK_FALSE(std::filesystem::exists(box.dir.path / "failed"));
    // Done already: a second start changes nothing.
    std::filesystem::remove(box.calls);
    CHECK(box.run(box.args("apply", "1.1")).exitCode == 0);
    CHECK(box.recorded().empty());
}

TEST_CASE(
    "kubernetes upgrade runner: a worker without packages runs kubeadm upgrade node and restarts kubelet") {
    RunnerSandbox box;
    CHECK(box.run(box.args("node", "")).exitCode == 0);
    CHECK(box.recorded() == "kubeadm upgrade node\nsystemctl daemon-reload\nsystemctl restart kubelet\n");
}

TEST_CASE("kubernetes upgrade runner: a failed step writes the failed marker and skips the rest") {
    RunnerSandbox box;
    auto result = box.run(box.args("node", ""), "kubeadm");
    CHECK(result.exitCode != 0);
    CHECK(box.recorded() == "kubeadm upgrade node\n");
    CHECK(std::filesystem::exists(box.dir.path / "failed"));
    CHECK_FALSE(std::filesystem::exists(box.dir.path / "done"));
    auto log = test::readText(box.dir.path / "log");
    CHECK(log.find("gpuhost: step failed (exit status 7): kubeadm upgrade node") != std::string::npos);
    // Once failed, it does nothing until the marker is removed.
    std::filesystem::remove(box.calls);
    CHECK(box.run(box.args("node", "")).exitCode != 0);
    CHECK(box.recorded().empty());
}

TEST_CASE("kubernetes upgrade launch: a transient unit per version, the apt source for the new minor") {
    kubernetes::KubernetesVersion version{1, 32, 5};
    kubernetes::BootstrapOptions options;
    auto launch = kubernetes::upgradeLaunch(kubernetes::UpgradeMode::FirstControlPlane, version, options);
    REQUIRE(launch.ok());
    CHECK(*launch == std::vector<std::string>{"systemd-run", "--unit=gpuhost-kubeadm-upgrade-1-32-5",
                                              "--collect", "--quiet", "--",
                                              "/usr/local/sbin/gpuhost-kubernetes-upgrade", "apply", "1.32.5",
                                              "", "/var/lib/gpuhost/kubeadm-upgrade-1.32.5.failed",
                                              "/var/lib/gpuhost/kubeadm-upgrade-1.32.5.done",
                                              "/var/log/gpuhost-kubeadm-upgrade-1.32.5.log"});
    CHECK(kubernetes::upgradeAptList(version, options)->empty());  // the image has the binaries

    options.installPackages = true;
    auto list = kubernetes::upgradeAptList(version, options);
    REQUIRE(list.ok());
    CHECK(*list ==
          "deb [signed-by=/etc/apt/cloud-init.gpg.d/kubernetes.gpg] "
          "https://pkgs.k8s.io/core:/stable:/v1.32/deb/ /\n");
    auto node = kubernetes::upgradeLaunch(kubernetes::UpgradeMode::Node, version, options);
    REQUIRE(node.ok());
    CHECK(node->at(6) == "node");
    CHECK(node->at(8) == "1.1");
    options.packageRevision = "1.1; rm -rf /";
    auto bad = kubernetes::upgradeLaunch(kubernetes::UpgradeMode::Node, version, options);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().field == "packageRevision");
    options.packageRevision = "1.1";
    options.aptSource = "deb https://mirror/ /\ndeb https://evil/ /";
    CHECK(kubernetes::upgradeAptList(version, options).error().field == "aptSource");
}

#include "node_upgrade.hpp"

#include <algorithm>

namespace gpuhost::kubernetes {

using model::Result;

namespace {

// Every value is an argument. umask 077: the log may show tokens kubeadm prints.
constexpr std::string_view kRunner = R"(#!/bin/sh
# gpuhost: upgrade this Kubernetes node in place: MODE VERSION REVISION FAILED DONE LOG
# MODE apply: the first control plane (kubeadm upgrade apply); node: any other node.
# REVISION empty: the image carries kubeadm and kubelet of VERSION; else they are installed
# pinned to VERSION-REVISION from the apt sources (the agent wrote the new minor's).
umask 077
mode=$1
version=$2
revision=$3
failed_marker=$4
done_marker=$5
log=$6
[ ! -e "$failed_marker" ] || exit 1
[ ! -e "$done_marker" ] || exit 0
run() {
    printf '+ %s\n' "$*" >>"$log"
    "$@" >>"$log" 2>&1 && return 0
    status=$?
    printf 'gpuhost: step failed (exit status %s): %s\n' "$status" "$*" >>"$log"
    touch "$failed_marker"
    exit 1
}
tools="kubeadm kubelet"
[ "$mode" != apply ] || tools="kubeadm kubelet kubectl"
if [ -n "$revision" ]; then
    run apt-get update
    run apt-mark unhold $tools
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y "kubeadm=$version-$revision"
fi
if [ "$mode" = apply ]; then
    run kubeadm upgrade apply --yes "v$version"
else
    run kubeadm upgrade node
fi
if [ -n "$revision" ]; then
    if [ "$mode" = apply ]; then
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y "kubelet=$version-$revision" "kubectl=$version-$revision"
    else
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y "kubelet=$version-$revision"
    fi
    run apt-mark hold $tools
fi
run systemctl daemon-reload
run systemctl restart kubelet
touch "$done_marker"
)";

}  // namespace

UpgradeFiles upgradeFiles(const KubernetesVersion& version) {
    // Unit names take dots, but systemd-run would read ".5" as a unit type suffix.
    auto dashed = version.text();
    std::replace(dashed.begin(), dashed.end(), '.', '-');
    return {"/var/log/gpuhost-kubeadm-upgrade-" + version.text() + ".log",
            "/var/lib/gpuhost/kubeadm-upgrade-" + version.text() + ".done",
            "/var/lib/gpuhost/kubeadm-upgrade-" + version.text() + ".failed",
            "gpuhost-kubeadm-upgrade-" + dashed};
}

std::string_view upgradeRunnerScript() {
    return kRunner;
}

Result<std::string> upgradeAptList(const KubernetesVersion& version, const BootstrapOptions& options) {
    if (!options.installPackages) {
        return std::string();
    }
    auto source = options.aptSource.empty() ? defaultAptSource(version) : options.aptSource;
    if (auto ok = checkAptSource(source, "aptSource"); !ok) {
        return ok.error();
    }
    if (auto at = source.find("$KEY_FILE"); at != std::string::npos) {
        source.replace(at, std::string_view("$KEY_FILE").size(), kAptKeyFile);
    }
    return source + "\n";
}

Result<std::vector<std::string>> upgradeLaunch(UpgradeMode mode, const KubernetesVersion& version,
                                               const BootstrapOptions& options) {
    std::string revision;
    if (options.installPackages) {
        if (auto ok = checkPackageRevision(options.packageRevision, "packageRevision"); !ok) {
            return ok.error();
        }
        revision = options.packageRevision;
    }
    auto files = upgradeFiles(version);
    return std::vector<std::string>{"systemd-run",
                                    "--unit=" + files.unit,
                                    "--collect",
                                    "--quiet",
                                    "--",
                                    std::string(kUpgradeRunnerPath),
                                    mode == UpgradeMode::FirstControlPlane ? "apply" : "node",
                                    version.text(),
                                    revision,
                                    files.failed,
                                    files.done,
                                    files.log};
}

}  // namespace gpuhost::kubernetes

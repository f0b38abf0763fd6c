#include "services/kubernetes_upgrade.hpp"

#include <algorithm>

#include "log.hpp"
#include "services/cluster_guest.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using kubernetes::UpgradeMode;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

StepOutcome stopped(std::string step, const std::string& logTail, std::chrono::milliseconds recheck) {
    auto outcome = StepOutcome::fatal(std::move(step), "failed; the roll stopped here: " + logTail);
    outcome.recheckAfter = recheck;  // resumes once the marker is removed
    return outcome;
}

StepOutcome pending(std::string step, const Error& error) {
    return error.code == ErrorCode::Unavailable ? StepOutcome::waiting(std::move(step))
                                                : StepOutcome::transient(std::move(step), error.message);
}

/// Why the API server's last report does not show `name` finished on `target` yet ("" when
/// it does): Ready on the new version and, when we cordoned it, schedulable again. The
/// runner's marker comes right after the kubelet restarts, a moment before the kubelet
/// reports; a roll that moved on then would end READY over nodes shown as they were.
std::string unconfirmed(const ClusterState& cluster, const std::string& name,
                        const kubernetes::KubernetesVersion& target, bool uncordoned) {
    const auto& report = cluster.entry.progress.report;
    auto found = report ? report->nodes.find(name) : decltype(report->nodes.end()){};
    if (!report || found == report->nodes.end()) {
        return "waiting for " + name + " to report " + target.tag();
    }
    // A kubelet that does not come back keeps the roll here: its Ready condition says why.
    std::string why;
    if (const auto& facts = found->second.kubernetes) {
        for (const auto& condition : facts->conditions) {
            if (condition.type == "Ready" && condition.status != "True") {
                why = " (Ready " + condition.status + ": " + condition.reason +
                      (condition.message.empty() ? "" : ", " + condition.message) + ")";
            }
        }
    }
    if (found->second.version != target.text()) {
        return "waiting for " + name + " to report " + target.tag() + why;
    }
    if (!found->second.ready) {
        return "waiting for " + name + " to be Ready on " + target.tag() + why;
    }
    if (uncordoned && found->second.kubernetes && found->second.kubernetes->unschedulable) {
        return "waiting for " + name + " to show as uncordoned";
    }
    return {};
}

/// Waits for the API server to show a finished node, asking it now rather than at the next poll.
StepOutcome confirming(std::string step) {
    auto outcome = StepOutcome::waiting(std::move(step));
    outcome.observeSoon = true;
    return outcome;
}

}  // namespace

std::optional<StepOutcome> KubernetesUpgrade::unfinished(const Result<NodeResult>& result,
                                                         const std::string& step) const {
    if (!result) {
        return pending(step, result.error());
    }
    if (result->state == NodeState::Failed) {
        return stopped(step, result->logTail, failedRecheck_);
    }
    if (result->state == NodeState::Running) {
        return StepOutcome::waiting(step);
    }
    return std::nullopt;  // done, or (not to be started) not started
}

asio::awaitable<Result<void>> KubernetesUpgrade::evacuate(const ClusterState& cluster,
                                                          const Instance& controlPlane,
                                                          const std::string& node) const {
    if (auto cordoned = co_await guest_.kubectl(cluster, controlPlane, guestArgv("cordon", node));
        !cordoned) {
        co_return cordoned.error();
    }
    auto timeout = "--timeout=" + std::to_string(drainTimeout_.count()) + "s";
    auto drained = co_await guest_.kubectlFor(
        cluster, controlPlane,
        guestArgv("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", timeout),
        std::chrono::duration_cast<std::chrono::milliseconds>(drainTimeout_) + guest_.timeout());
    if (!drained) {
        co_return drained.error();
    }
    co_return Result<void>{};
}

asio::awaitable<Result<KubernetesUpgrade::NodeResult>> KubernetesUpgrade::advance(
    const ClusterState& cluster, const Instance& member, const Instance& controlPlane, UpgradeMode mode,
    const kubernetes::KubernetesVersion& version, const kubernetes::BootstrapOptions& options,
    bool mayStart) const {
    auto files = kubernetes::upgradeFiles(version);
    auto failed = co_await guest_.exists(cluster, member, files.failed);
    if (!failed) {
        co_return failed.error();
    }
    if (*failed) {
        // Not co_await inside the braces: g++ 12 frees the awaited string before it is copied.
        auto tail = co_await guest_.logTail(cluster, member, files.log);
        co_return NodeResult{NodeState::Failed, std::move(tail)};
    }
    auto done = co_await guest_.exists(cluster, member, files.done);
    if (!done) {
        co_return done.error();
    }
    if (*done) {
        co_return NodeResult{NodeState::Done, {}};
    }
    auto active = co_await exitStatusInMember(
        cluster, member, guestArgv("systemctl", "is-active", "--quiet", files.unit), guest_.timeout());
    if (!active) {
        co_return active.error();
    }
    if (*active == 0) {
        co_return NodeResult{NodeState::Running, {}};
    }
    if (!mayStart) {
        co_return NodeResult{NodeState::NotStarted, {}};
    }
    // Not started yet, or stopped without a verdict (its VM rebooted): start it (again; each
    // of its steps may run twice).
    auto launch = kubernetes::upgradeLaunch(mode, version, options);
    auto aptList = kubernetes::upgradeAptList(version, options);
    if (!launch || !aptList) {
        co_return !launch ? launch.error() : aptList.error();
    }
    if (mode == UpgradeMode::Node) {
        if (auto evacuated = co_await evacuate(cluster, controlPlane, kubernetesNodeName(*member.owner));
            !evacuated) {
            co_return evacuated.error();
        }
    }
    auto runner = guestFile(std::string(kubernetes::kUpgradeRunnerPath),
                            std::string(kubernetes::upgradeRunnerScript()), 0755, "root", "root");
    if (auto written = co_await writeInMember(cluster, member, std::move(runner), guest_.timeout());
        !written) {
        co_return written.error();
    }
    if (!aptList->empty()) {
        auto list = guestFile(std::string(kubernetes::kUpgradeAptListPath), *aptList, 0644, "root", "root");
        if (auto written = co_await writeInMember(cluster, member, std::move(list), guest_.timeout());
            !written) {
            co_return written.error();
        }
    }
    if (auto started = co_await runInMember(cluster, member, std::move(*launch), guest_.timeout());
        !started) {
        co_return started.error();
    }
    log::info("Kubernetes node upgrade started", {{"cluster", cluster.entry.cluster.id.str()},
                                                  {"node", kubernetesNodeName(*member.owner)},
                                                  {"version", version.text()}});
    co_return NodeResult{NodeState::Running, {}};
}

asio::awaitable<Result<KubernetesUpgrade::NodeResult>> KubernetesUpgrade::follow(
    const ClusterState& cluster, KubernetesProgress& progress, bool& changed, const Instance& member,
    const Instance& controlPlane, UpgradeMode mode, const kubernetes::KubernetesVersion& version,
    const kubernetes::BootstrapOptions& options, bool mayStart) const {
    const auto& spec = cluster.entry.cluster;
    auto name = kubernetesNodeName(*member.owner);
    // A retry runs in three passes, each stored before the next: the ask is taken with the
    // node (below), the failed marker goes, then the upgrade starts again. A pass repeated
    // after a crash or a failed store repeats only its own harmless step, so one ask never
    // retries twice and never removes the marker of the relaunched run.
    bool retrying = progress.retryNode == name;
    if (retrying && !progress.retryMarkerRemoved) {
        auto files = kubernetes::upgradeFiles(version);
        if (auto removed =
                co_await runInMember(cluster, member, guestArgv("rm", "-f", files.failed), guest_.timeout());
            !removed) {
            co_return removed.error();
        }
        progress.retryMarkerRemoved = true;
        changed = true;
        co_return NodeResult{NodeState::Running, {}};
    }
    // A retried node starts again even where its kubelet already reports the version.
    auto result =
        co_await advance(cluster, member, controlPlane, mode, version, options, mayStart || retrying);
    if (!result) {
        co_return result;
    }
    if (retrying) {
        log::info("Kubernetes node upgrade retried",
                  {{"cluster", spec.id.str()}, {"node", name}, {"version", version.text()}});
        progress.retryNode.clear();
        progress.retryMarkerRemoved = false;
        changed = true;
    } else if (spec.rollRetries != progress.rollRetriesSeen) {
        progress.rollRetriesSeen = spec.rollRetries;
        changed = true;
        if (result->state == NodeState::Failed) {
            // The owner asked for this version again: take the ask with this node.
            progress.retryNode = name;
            progress.stoppedOn.clear();
            co_return NodeResult{NodeState::Running, {}};
        }
        // Nothing failed here (fixed by hand meanwhile): the ask is served as it is.
    }
    // Where the roll stopped, for the API to tell a stopped roll from other errors.
    auto stoppedOn = result->state == NodeState::Failed ? name : std::string();
    if (progress.stoppedOn != stoppedOn) {
        progress.stoppedOn = stoppedOn;
        changed = true;
    }
    co_return result;
}

asio::awaitable<RollPass> KubernetesUpgrade::step(const ClusterState& cluster, KubernetesProgress& progress,
                                                  const kubernetes::BootstrapOptions& options) const {
    const auto& spec = cluster.entry.cluster;
    if (!rolling(spec, progress)) {
        // An ask to retry that came as the roll ended has nothing left to retry.
        auto settled = progress;
        settled.rollRetriesSeen = spec.rollRetries;
        settled.retryNode.clear();
        settled.retryMarkerRemoved = false;
        settled.stoppedOn.clear();
        bool stale = settled != progress;
        progress = std::move(settled);
        co_return RollPass{std::nullopt, stale};
    }
    auto target = kubernetes::parseKubernetesVersion(spec.version, "version");
    if (!target) {
        co_return RollPass{StepOutcome::fatal("upgrading", target.error().message), false};
    }
    const auto* controlPlane = cluster.memberWithRole(kControlPlaneRole);
    const std::string rollTo = "upgrading to " + target->tag() + ": ";
    if (controlPlane == nullptr || controlPlane->state != InstanceState::Running) {
        co_return RollPass{StepOutcome::waiting(rollTo + "waiting for the control-plane VM"), false};
    }
    if (progress.controlPlaneVersion != spec.version) {
        auto step = rollTo + "kubeadm upgrade apply on " + std::string(kControlPlaneRole);
        bool changed = false;
        auto result = co_await follow(cluster, progress, changed, *controlPlane, *controlPlane,
                                      UpgradeMode::FirstControlPlane, *target, options);
        if (auto wait = unfinished(result, step)) {
            co_return RollPass{std::move(*wait), changed};
        }
        if (auto wait = unconfirmed(cluster, std::string(kControlPlaneRole), *target, false); !wait.empty()) {
            co_return RollPass{confirming(step + ": " + wait), changed};
        }
        progress.controlPlaneVersion = spec.version;
        progress.upgradedNodes = {std::string(kControlPlaneRole)};
        co_return RollPass{StepOutcome::waiting(rollTo + "control plane done; the workers next"), true};
    }
    // Workers in name order; one that already runs the version (it joined after the control
    // plane moved) needs nothing.
    std::vector<const Instance*> workers;
    unsigned total = 0;
    for (const auto& member : cluster.members) {
        if (member.owner->nodePool.empty() || member.state == InstanceState::Deleting) {
            continue;
        }
        ++total;
        auto name = kubernetesNodeName(*member.owner);
        // Cordoned or not Ready on the new version: maybe ours, just upgraded (its kubelet coming
        // back) or upgraded just before a restart; looked at below.
        bool settled = unconfirmed(cluster, name, *target, true).empty();
        bool done = std::find(progress.upgradedNodes.begin(), progress.upgradedNodes.end(), name) !=
                    progress.upgradedNodes.end();
        if (!done && !settled && member.state == InstanceState::Running && isSafeNodeName(name)) {
            workers.push_back(&member);
        }
    }
    if (workers.empty()) {
        progress.upgradedNodes.clear();
        log::info("Kubernetes cluster upgraded", {{"cluster", spec.id.str()}, {"version", spec.version}});
        co_return RollPass{std::nullopt, true};
    }
    std::sort(workers.begin(), workers.end(), [](const Instance* a, const Instance* b) {
        return kubernetesNodeName(*a->owner) < kubernetesNodeName(*b->owner);
    });
    const auto& next = *workers.front();
    auto name = kubernetesNodeName(*next.owner);
    auto step = rollTo + "kubeadm upgrade node on " + name + " (" +
                std::to_string(total - workers.size() + 1) + " of " + std::to_string(total) + " workers)";
    // On the version already (and cordoned or not Ready, or it would not be here): our upgrade
    // there (its kubelet restarted before the runner wrote its marker, or the agent restarted),
    // or the owner's cordon, which stays, or a node that joined on it. Nothing is started there.
    const auto& report = cluster.entry.progress.report;
    bool onTarget =
        report && report->nodes.contains(name) && report->nodes.at(name).version == target->text();
    bool changed = false;
    auto result = co_await follow(cluster, progress, changed, next, *controlPlane, UpgradeMode::Node, *target,
                                  options, !onTarget);
    if (auto wait = unfinished(result, step)) {
        co_return RollPass{std::move(*wait), changed};
    }
    // Ours (the marker says so): uncordoned, again on each pass until the report shows it.
    if (result->state == NodeState::Done) {
        if (auto uncordoned = co_await guest_.kubectl(cluster, *controlPlane, guestArgv("uncordon", name));
            !uncordoned) {
            co_return RollPass{pending(step + ": uncordon", uncordoned.error()), changed};
        }
        if (auto wait = unconfirmed(cluster, name, *target, true); !wait.empty()) {
            co_return RollPass{confirming(step + ": " + wait), changed};
        }
    }
    progress.upgradedNodes.push_back(name);
    co_return RollPass{StepOutcome::waiting(rollTo + name + " done"), true};
}

}  // namespace gpuhost::agent

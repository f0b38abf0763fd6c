// The Kubernetes upgrade roll over fake guests: the control plane first (kubeadm upgrade
// apply), then each worker in turn (cordon, drain, kubeadm upgrade node, uncordon), one node
// at a time, UPGRADING with the step in the details; a failed node stops the roll with its
// log in ERROR and the roll resumes when the marker is gone (by hand, or when the owner asks
// for the version again); a restart resumes where the
// stored progress says, without starting a finished node again.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "kubernetes_world.hpp"
#include "node_upgrade.hpp"
#include "services/kubernetes_progress.hpp"

namespace gpuhost {

using model::ClusterKind;
using model::ClusterPhase;
using model::ClusterPool;
using model::ErrorCode;
using test::KubernetesWorld;

namespace {

struct Rolling {
    KubernetesWorld w;
    model::Uuid id;
    std::string cp;  // the control plane's domain

    Rolling() {
        auto created = w.create("up", {ClusterPool{"cpu", "cpu.small", 2, {}}}, "1.31.2");
        REQUIRE(created.ok());
        id = created->cluster.id;
        w.runGuestsUntil(id, [&] { return w.view(id).status.phase == ClusterPhase::Ready; });
        auto all = w.members(id);
        cp = w.domainOf(*w.member(all, "control-plane"));
    }
    std::string domainOf(const std::string& pool, unsigned index) {
        auto all = w.members(id);
        const auto* member = w.member(all, "worker", pool, index);
        REQUIRE(member != nullptr);
        return w.domainOf(*member);
    }
    std::vector<std::vector<std::string>> upgradesOn(const std::string& domain) {
        return w.guests.guest(domain).upgrades;
    }
    agent::KubernetesProgress stored() {
        auto progress = agent::parseProgress(*w.clusterStore.clusterKindState(id));
        REQUIRE(progress.ok());
        return *progress;
    }
    void waitForUpgradeOn(const std::string& domain) {
        w.world.waitFor([&] { return !upgradesOn(domain).empty(); });
    }
    /// Asks for `version` and lets the control plane's upgrade succeed: the first worker's
    /// domain, once its upgrade has started.
    std::string throughControlPlane(const std::string& version) {
        ask(version);
        waitForUpgradeOn(cp);
        w.guests.finishUpgrade(cp, cp, "control-plane", true);
        auto worker0 = domainOf("cpu", 0);
        waitForUpgradeOn(worker0);
        return worker0;
    }
    model::ClusterStatus status() { return w.view(id).status; }
    /// The owner asks for `version` (PATCH); it must be accepted.
    void ask(const std::string& version) {
        REQUIRE(w.world.await(w.api().upgrade(w.world.project, ClusterKind::Kubernetes, id, version)).ok());
    }
    /// Lets the roll make several passes, seen as commands run on `domain`.
    void severalPassesOver(const std::string& domain) {
        auto before = w.guests.commands(domain).size();
        w.world.waitFor([&] { return w.guests.commands(domain).size() > before + 6; });
    }
    /// cpu-0's running upgrade succeeds, then cpu-1's, and the cluster is READY; cpu-1's domain.
    std::string workersSucceed(const std::string& worker0) {
        w.guests.finishUpgrade(worker0, cp, "cpu-0", true);
        auto worker1 = domainOf("cpu", 1);
        waitForUpgradeOn(worker1);
        w.guests.finishUpgrade(worker1, cp, "cpu-1", true);
        w.world.waitFor([&] { return status().phase == ClusterPhase::Ready; });
        return worker1;
    }
};

bool endsWith(const std::vector<std::string>& argv, const std::vector<std::string>& tail) {
    return argv.size() >= tail.size() && std::equal(tail.begin(), tail.end(), argv.end() - tail.size());
}

std::size_t indexOf(const std::vector<std::vector<std::string>>& commands,
                    const std::vector<std::string>& tail) {
    for (std::size_t i = 0; i < commands.size(); ++i) {
        if (endsWith(commands[i], tail)) {
            return i;
        }
    }
    return commands.size();
}

}  // namespace

TEST_CASE("an upgrade rolls the control plane, then each worker in turn, cordoned and drained, then READY") {
    Rolling r;
    auto upgraded =
        r.w.world.await(r.w.api().upgrade(r.w.world.project, ClusterKind::Kubernetes, r.id, "v1.32.0"));
    REQUIRE(upgraded.ok());
    CHECK(upgraded->cluster.version == "1.32.0");

    // The control plane first: kubeadm upgrade apply, started as a transient unit.
    r.waitForUpgradeOn(r.cp);
    auto cpRun = r.upgradesOn(r.cp).front();
    CHECK(cpRun == std::vector<std::string>{"apply", "1.32.0", "",
                                            "/var/lib/gpuhost/kubeadm-upgrade-1.32.0.failed",
                                            "/var/lib/gpuhost/kubeadm-upgrade-1.32.0.done",
                                            "/var/log/gpuhost-kubeadm-upgrade-1.32.0.log"});
    CHECK(r.w.guests.guest(r.cp).written.at(std::string(kubernetes::kUpgradeRunnerPath)) ==
          kubernetes::upgradeRunnerScript());
    // The step shows once the pass that started it ends.
    r.w.world.waitFor([&] {
        return r.status().details.find("kubeadm upgrade apply on control-plane") != std::string::npos;
    });
    CHECK(r.status().phase == ClusterPhase::Upgrading);
    // Another version change waits for this roll.
    auto again =
        r.w.world.await(r.w.api().upgrade(r.w.world.project, ClusterKind::Kubernetes, r.id, "1.33.0"));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == ErrorCode::Conflict);
    CHECK(r.upgradesOn(r.domainOf("cpu", 0)).empty());  // no worker before the control plane is done

    r.w.guests.finishUpgrade(r.cp, r.cp, "control-plane", true);
    auto worker0 = r.domainOf("cpu", 0);
    auto worker1 = r.domainOf("cpu", 1);
    r.waitForUpgradeOn(worker0);
    CHECK(r.stored().controlPlaneVersion == "1.32.0");
    CHECK(r.upgradesOn(worker0).front().at(0) == "node");
    CHECK(r.upgradesOn(r.cp).size() == 1);  // not started again
    // Cordoned and drained before its upgrade started; the other worker waits its turn.
    auto cpCommands = r.w.guests.commands(r.cp);
    CHECK(indexOf(cpCommands, {"cordon", "cpu-0"}) <
          indexOf(cpCommands,
                  {"drain", "cpu-0", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s"}));
    CHECK(indexOf(cpCommands, {"drain", "cpu-0", "--ignore-daemonsets", "--delete-emptydir-data",
                               "--timeout=120s"}) < cpCommands.size());
    CHECK(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);
    CHECK(r.upgradesOn(worker1).empty());
    r.w.world.waitFor([&] {
        return r.status().details.find("kubeadm upgrade node on cpu-0 (1 of 2 workers)") != std::string::npos;
    });

    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", true);
    r.waitForUpgradeOn(worker1);
    CHECK_FALSE(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);  // uncordoned once done
    CHECK(r.upgradesOn(worker0).size() == 1);  // counted finished, once the API server listed it so
    r.w.world.waitFor([&] {
        return r.status().details.find("kubeadm upgrade node on cpu-1 (2 of 2 workers)") != std::string::npos;
    });

    r.w.guests.finishUpgrade(worker1, r.cp, "cpu-1", true);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Ready; });
    CHECK(r.stored().upgradedNodes.empty());
    CHECK(r.stored().controlPlaneVersion == "1.32.0");
    CHECK_FALSE(r.w.guests.guest(r.cp).nodes.at("cpu-1").unschedulable);
    auto view = r.w.view(r.id);
    CHECK(view.cluster.version == "1.32.0");
    for (const auto& node : view.pools.at(0).nodes) {
        REQUIRE(node.kubernetes.has_value());
        CHECK(node.kubernetes->kubeletVersion == "v1.32.0");
    }
    // The next minor step is allowed now.
    CHECK(
        r.w.world.await(r.w.api().upgrade(r.w.world.project, ClusterKind::Kubernetes, r.id, "1.33.1")).ok());
}

TEST_CASE(
    "a failed node stops the roll with its log in ERROR, and the roll resumes once the marker is gone") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });
    auto status = r.status();
    CHECK(status.details.find("cpu-0") != std::string::npos);
    CHECK(status.details.find("fatal errors occurred") != std::string::npos);  // the log's tail
    CHECK(r.upgradesOn(r.domainOf("cpu", 1)).empty());                         // stopped there
    CHECK(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);             // still cordoned

    // Fixed by hand: the marker goes, the node's upgrade starts again, the roll goes on.
    r.w.guests.removeFile(worker0, "/var/lib/gpuhost/kubeadm-upgrade-1.32.4.failed");
    r.w.world.waitFor([&] { return r.upgradesOn(worker0).size() == 2; });
    r.workersSucceed(worker0);
}

TEST_CASE("asking again for the version a stopped roll moves to retries the failed node, once per ask") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");
    const std::string failed = "/var/lib/gpuhost/kubeadm-upgrade-1.32.4.failed";
    auto ask = [&] {
        return r.w.world.await(
            r.w.api().upgrade(r.w.world.project, ClusterKind::Kubernetes, r.id, "v1.32.4"));
    };
    auto storedSpec = [&] {
        auto all = r.w.clusterStore.loadClusters();
        REQUIRE(all.ok());
        REQUIRE(all->size() == 1);
        return all->front();
    };
    auto passesOver = [&](const std::string& domain) {  // each pass looks for the failed marker
        auto commands = r.w.guests.commands(domain);
        return std::count(commands.begin(), commands.end(), std::vector<std::string>{"test", "-e", failed});
    };

    // Asking while the roll moves changes nothing: there is nothing to retry.
    REQUIRE(ask().ok());
    CHECK(storedSpec().rollRetries == 0);

    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });
    auto retried = ask();
    REQUIRE(retried.ok());
    CHECK(retried->status.phase == ClusterPhase::Upgrading);  // shown at once
    CHECK(storedSpec().rollRetries == 1);
    r.w.world.waitFor([&] { return r.upgradesOn(worker0).size() == 2; });
    CHECK_FALSE(r.w.guests.guest(worker0).files.contains(failed));
    CHECK(r.stored().rollRetriesSeen == 1);
    CHECK(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);  // still out of service meanwhile

    // It fails again: the roll stops again, and the spent ask does not retry it.
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });
    auto seen = passesOver(worker0);
    r.w.world.waitFor([&] { return passesOver(worker0) >= seen + 3; });
    CHECK(r.upgradesOn(worker0).size() == 2);
    CHECK(r.stored().retryNode.empty());

    REQUIRE(ask().ok());
    r.w.world.waitFor([&] { return r.upgradesOn(worker0).size() == 3; });
    r.workersSucceed(worker0);
    CHECK(r.stored().rollRetriesSeen == 2);
    CHECK(storedSpec().rollRetries == 2);
}

TEST_CASE("a retry whose every pass is repeated (its progress not stored) still retries once") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");
    const std::string failed = "/var/lib/gpuhost/kubeadm-upgrade-1.32.4.failed";
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });

    // The first store of each of the retry's three passes fails, as a crash right after the
    // pass's guest action would leave it: the pass runs again from the progress before it.
    std::set<std::string> refused;  // only touched under the store's lock
    r.w.clusterStore.refuseKindStateWhen([&](const std::string& text) {
        auto progress = agent::parseProgress(text);
        if (!progress.ok() || progress->rollRetriesSeen != 1) {
            return false;  // not the retry's
        }
        auto pass = progress->retryNode.empty()    ? "relaunched"
                    : progress->retryMarkerRemoved ? "marker removed"
                                                   : "ask taken";
        return refused.insert(pass).second;
    });
    r.ask("1.32.4");
    r.w.world.waitFor([&] { return r.upgradesOn(worker0).size() == 2; });
    r.w.world.waitFor([&] { return r.stored().rollRetriesSeen == 1 && r.stored().retryNode.empty(); });
    r.w.clusterStore.refuseKindStateWhen(nullptr);
    CHECK(refused == std::set<std::string>{"ask taken", "marker removed", "relaunched"});
    auto removals = [&] {
        auto commands = r.w.guests.commands(worker0);
        return std::count(commands.begin(), commands.end(), std::vector<std::string>{"rm", "-f", failed});
    };
    CHECK(removals() == 2);  // the marker pass, twice; never after the relaunch

    // The relaunched run fails too: its marker stays, and it is not started a third time.
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });
    r.severalPassesOver(worker0);
    CHECK(r.w.guests.guest(worker0).files.contains(failed));
    CHECK(removals() == 2);
    CHECK(r.upgradesOn(worker0).size() == 2);
}

TEST_CASE("a failed control-plane upgrade is retried when the version is asked for again") {
    Rolling r;
    r.ask("1.32.4");
    r.waitForUpgradeOn(r.cp);
    r.w.guests.finishUpgrade(r.cp, r.cp, "control-plane", false);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Error; });
    CHECK(r.status().details.find("kubeadm upgrade apply on control-plane") != std::string::npos);
    CHECK(r.stored().stoppedOn == "control-plane");
    CHECK(r.upgradesOn(r.domainOf("cpu", 0)).empty());  // no worker while the control plane failed

    r.ask("1.32.4");
    r.w.world.waitFor([&] { return r.upgradesOn(r.cp).size() == 2; });
    CHECK(r.upgradesOn(r.cp).back().at(0) == "apply");
    r.w.guests.finishUpgrade(r.cp, r.cp, "control-plane", true);
    auto worker0 = r.domainOf("cpu", 0);
    r.waitForUpgradeOn(worker0);
    CHECK(r.stored().controlPlaneVersion == "1.32.4");
    r.workersSucceed(worker0);
    CHECK(r.upgradesOn(r.cp).size() == 2);
}

TEST_CASE("a restart resumes the roll from the stored progress without starting a finished node again") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");

    r.w.start();  // the agent restarts while cpu-0 upgrades
    CHECK(r.stored().controlPlaneVersion == "1.32.4");
    auto worker1 = r.workersSucceed(worker0);
    CHECK(r.upgradesOn(r.cp).size() == 1);
    CHECK(r.upgradesOn(worker0).size() == 1);  // its unit was still running: not started twice
    CHECK(r.upgradesOn(worker1).size() == 1);
}

TEST_CASE(
    "a worker whose kubelet reports the new version before its runner finishes is uncordoned after it") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");
    // kubeadm upgrade node and the kubelet restart are done; the runner has not written its marker.
    r.w.guests.setKubeletVersion(r.cp, "cpu-0", "v1.32.4");
    r.severalPassesOver(r.cp);
    CHECK(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);  // not taken for done yet
    CHECK(r.upgradesOn(r.domainOf("cpu", 1)).empty());
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", true);
    r.waitForUpgradeOn(r.domainOf("cpu", 1));
    CHECK_FALSE(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);
    CHECK(r.upgradesOn(worker0).size() == 1);
}

TEST_CASE("a node finished is counted once the API server lists it on the new version, and uncordoned") {
    Rolling r;
    r.ask("1.32.4");
    r.waitForUpgradeOn(r.cp);
    // The runners' markers come a moment before their kubelets report the new version.
    r.w.guests.finishUpgrade(r.cp, r.cp, "control-plane", true, false);
    r.w.world.waitFor([&] {
        return r.status().details.find("waiting for control-plane to report v1.32.4") != std::string::npos;
    });
    auto worker0 = r.domainOf("cpu", 0);
    r.severalPassesOver(r.cp);
    CHECK(r.upgradesOn(worker0).empty());
    CHECK(r.stored().controlPlaneVersion == "1.31.2");
    r.w.guests.setKubeletVersion(r.cp, "control-plane", "v1.32.4");
    r.waitForUpgradeOn(worker0);

    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", true, false);
    r.w.world.waitFor(
        [&] { return r.status().details.find("waiting for cpu-0 to report v1.32.4") != std::string::npos; });
    r.severalPassesOver(r.cp);
    CHECK(r.upgradesOn(r.domainOf("cpu", 1)).empty());
    CHECK(r.status().phase == ClusterPhase::Upgrading);
    CHECK_FALSE(r.w.guests.guest(r.cp).nodes.at("cpu-0").unschedulable);  // uncordoned meanwhile
    // Its kubelet reports the version but is not Ready yet (the runtime's check pending):
    // the next worker still waits, and the step says why.
    r.w.guests.setReady(r.cp, "cpu-0", false);
    r.w.guests.setKubeletVersion(r.cp, "cpu-0", "v1.32.4");
    r.w.world.waitFor([&] {
        return r.status().details.find(
                   "waiting for cpu-0 to be Ready on v1.32.4 (Ready False: KubeletNotReady") !=
               std::string::npos;
    });
    r.severalPassesOver(r.cp);
    CHECK(r.upgradesOn(r.domainOf("cpu", 1)).empty());
    r.w.guests.setReady(r.cp, "cpu-0", true);
    r.waitForUpgradeOn(r.domainOf("cpu", 1));
    r.w.guests.finishUpgrade(r.domainOf("cpu", 1), r.cp, "cpu-1", true);
    r.w.world.waitFor([&] { return r.status().phase == ClusterPhase::Ready; });
}

TEST_CASE(
    "the roll's end shows the nodes as the API server lists them after it, without waiting for a poll") {
    Rolling r;
    auto worker0 = r.throughControlPlane("1.32.4");
    r.w.guests.finishUpgrade(worker0, r.cp, "cpu-0", true);
    auto worker1 = r.domainOf("cpu", 1);
    r.waitForUpgradeOn(worker1);
    // cpu-1's kubelet restarted on the new version: a poll sees it still cordoned (CI saw
    // the roll end READY over that report).
    r.w.guests.setKubeletVersion(r.cp, "cpu-1", "v1.32.4");
    auto cordonedOnTarget = [&] {
        auto nodes = r.w.view(r.id).pools.at(0).nodes;
        return nodes.size() == 2 && nodes[1].kubernetes && nodes[1].kubernetes->kubeletVersion == "v1.32.4" &&
               nodes[1].kubernetes->unschedulable;
    };
    r.w.world.waitFor(cordonedOnTarget);
    // Polls a day apart from here: the only fresh reads of the nodes are those the roll asks
    // for. The restart's first poll is let through first (it too sees cpu-1 cordoned).
    auto nodeReads = [&] {
        auto commands = r.w.guests.commands(r.cp);
        return std::count_if(commands.begin(), commands.end(), [](const std::vector<std::string>& argv) {
            return endsWith(argv, {"get", "nodes", "-o", "json"});
        });
    };
    r.w.clusterOptions.observeInterval = std::chrono::hours(24);
    auto readsBefore = nodeReads();
    r.w.start();
    r.w.world.waitFor([&] { return nodeReads() > readsBefore; });
    r.severalPassesOver(r.cp);
    r.w.guests.finishUpgrade(worker1, r.cp, "cpu-1", true);
    // The first view that says READY, taken as soon as it does.
    model::ClusterView view;
    r.w.world.waitFor([&] {
        view = r.w.view(r.id);
        return view.status.phase == ClusterPhase::Ready;
    });
    REQUIRE(view.status.phase == ClusterPhase::Ready);
    CHECK(view.version == "1.32.4");
    REQUIRE(view.pools.at(0).nodes.size() == 2);
    for (const auto& node : view.pools.at(0).nodes) {
        REQUIRE(node.kubernetes.has_value());
        CHECK(node.kubernetes->kubeletVersion == "v1.32.4");
        CHECK_FALSE(node.kubernetes->unschedulable);
    }
}

}  // namespace gpuhost

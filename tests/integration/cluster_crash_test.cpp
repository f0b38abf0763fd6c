// Crash consistency of clusters of each kind (Slurm, Kubernetes): gpuhostd is killed with SIGKILL at random
// points of a workload of cluster creates, node-pool scale-ups and scale-downs and cluster deletes,
// restarted, and must converge: every acknowledged cluster exists with exactly its
// controller and `count` pool members (indices 0..count-1, names unique), every
// acknowledged delete is gone with all its members, no instance owned by a cluster that
// does not exist, and no domain or volume of the project without an instance.
//
// As instance_crash_test, the daemon drives test+unix:///default, whose state outlives the
// daemon while this test holds a connection. There is no guest agent there, so a cluster
// stays BOOTSTRAPPING; its VMs are still admitted, run, scaled and deleted (a node whose
// controller is out of stock stays `creating`: its first boot needs the controller's
// address), and the kinds' retire lets a pool shrink because the controller (control plane)
// never answered.
#include <doctest/doctest.h>
#include <libvirt/libvirt.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "api_helpers.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;

namespace {

constexpr const char* kSharedUri = "test+unix:///default";

// The test driver's host has 3 GiB: a group of three cpu.small (1 GiB) VMs would never be
// admitted, so every member would be out of stock and no domain would ever exist. A tiny
// type lets a few clusters run at once; the controller gets it too (the smallest CPU type).
// slurm.image and kubernetes.image name the default image: the kinds refuse clusters (503)
// without one.
const std::string kConfig =
    "instance_types:\n"
    "  - {name: cpu.small, cpu: 1, memory: 1Gi}\n"
    "  - {name: cpu.tiny, cpu: 1, memory: 256Mi}\n"
    "slurm:\n"
    "  image: ubuntu22.04\n"
    "kubernetes:\n"
    "  image: ubuntu22.04\n";

// What differs between the kinds as far as this test goes.
struct KindUnderTest {
    std::string routes;       // "/slurm/clusters"
    std::string primaryRole;  // the member the kind drives the cluster through
    std::string createBody(const std::string& name, unsigned count) const {
        auto pool = json{{"name", "cpu"}, {"type", "cpu.tiny"}, {"count", count}};
        if (routes == "/slurm/clusters") {
            return json{{"name", name}, {"nodePools", json::array({pool})}}.dump();
        }
        return json{{"name", name}, {"version", "1.31.2"}, {"defaultNodePool", pool}}.dump();
    }
};
const KindUnderTest kSlurm{"/slurm/clusters", "controller"};
const KindUnderTest kKubernetes{"/kubernetes/clusters", "control-plane"};

constexpr int kTrials = 15;
constexpr unsigned kMaxCount = 3;
constexpr auto kConvergence = std::chrono::seconds(30);

struct Spec {
    std::string name;
    unsigned count = 0;
};

// What the API and libvirt show after a restart, for this test's project.
struct View {
    json instances = json::array();
    std::map<std::string, json> clusters;  // id → GET /slurm/clusters/{id} (only those that answered 200)
    std::set<std::string> gone;            // cluster ids that answered 404
    std::map<std::string, drivers::PowerState> domains;  // instance id → power
    std::set<std::string> volumeOwners;

    std::string describe() const {
        std::string text = "instances:";
        for (const auto& instance : instances) {
            std::string owner = "-";
            if (instance.contains("owner")) {
                owner = instance["owner"]["clusterId"].get<std::string>().substr(0, 8);
            }
            text += "\n  " + instance["id"].get<std::string>().substr(0, 8) + " " +
                    instance["name"].get<std::string>() + " " + instance["state"].get<std::string>() +
                    " owner=" + owner;
        }
        text += "\nclusters:";
        for (const auto& [id, cluster] : clusters) {
            text += " " + id.substr(0, 8) + "(" + cluster["name"].get<std::string>() + ", nodes:";
            for (const auto& node : cluster["nodePools"][0]["nodes"]) {
                text +=
                    " " + node["name"].get<std::string>() + "=" + node["instanceState"].get<std::string>();
            }
            text += ")";
        }
        text += "\ngone:";
        for (const auto& id : gone) {
            text += " " + id.substr(0, 8);
        }
        text += "\ndomains:";
        for (const auto& [id, power] : domains) {
            text += " " + id.substr(0, 8) + "=" + std::string(drivers::nameOf(power));
        }
        text += "\nvolumes of:";
        for (const auto& id : volumeOwners) {
            text += " " + id.substr(0, 8);
        }
        return text;
    }
};

View look(const KindUnderTest& kind, Daemon& daemon, const std::string& project,
          const std::set<std::string>& clusterIds, drivers::libvirt::LibvirtHypervisor& hypervisor,
          drivers::libvirt::LibvirtStorage& storage) {
    View seen;
    auto listed = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    REQUIRE(listed.status == 200);
    seen.instances = json::parse(listed.body);
    for (const auto& id : clusterIds) {
        auto got = httpRequest(daemon.port(), "GET", kBase + kind.routes + "/" + id, inProject(project));
        if (got.status == 200) {
            seen.clusters[id] = json::parse(got.body);
        } else if (got.status == 404) {
            seen.gone.insert(id);
        } else {
            FAIL("GET " << kind.routes << "/" << id << ": " << got.status << " " << got.body);
        }
    }
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    for (const auto& domain : *domains) {
        if (domain.projectId.str() == project) {
            seen.domains[domain.instanceId.str()] = domain.state;
        }
    }
    auto volumes = storage.listVolumes();  // the daemon's own pool
    REQUIRE(volumes.ok());
    for (const auto& volume : *volumes) {
        if (volume.name.starts_with("gpuhost-")) {
            seen.volumeOwners.insert(volume.name.substr(8, 36));
        }
    }
    return seen;
}

// Why `seen` is not (yet) what the acknowledged requests promise; "" once it is.
std::string notConverged(const KindUnderTest& kind, const View& seen,
                         const std::map<std::string, Spec>& acknowledged,
                         const std::set<std::string>& deleted) {
    std::map<std::string, std::vector<json>> membersOf;
    std::set<std::string> instanceIds;
    for (const auto& instance : seen.instances) {
        std::string id = instance["id"];
        instanceIds.insert(id);
        if (!instance.contains("owner") || !instance["owner"].is_object()) {
            return "instance " + id + " has no owner: this test creates only clusters";
        }
        std::string cluster = instance["owner"]["clusterId"];
        if (!acknowledged.contains(cluster)) {
            return "instance " + id + " (" + instance["name"].get<std::string>() + ", " +
                   instance["state"].get<std::string>() + ") belongs to cluster " + cluster +
                   (deleted.contains(cluster) ? ", which was deleted" : ", which the test never saw");
        }
        if (instance["state"] == "deleting") {
            return "instance " + id + " is still deleting";
        }
        if (instance["state"] == "failed" || instance["state"] == "error") {
            return "instance " + id + " is " + instance["state"].get<std::string>() + ": " +
                   instance.value("reason", "");
        }
        membersOf[cluster].push_back(instance);
    }
    for (const auto& [id, spec] : acknowledged) {
        if (!seen.clusters.contains(id)) {
            return "cluster " + spec.name + " (" + id + ") is not found";
        }
        const auto& cluster = seen.clusters.at(id);
        if (cluster["name"] != spec.name || cluster["nodePools"].size() != 1 ||
            cluster["nodePools"][0]["count"] != spec.count) {
            return "cluster " + spec.name + " shows another spec: " + cluster["nodePools"].dump();
        }
        unsigned controllers = 0;
        std::set<unsigned> indices;
        std::set<std::string> names;
        for (const auto& member : membersOf[id]) {
            const auto& owner = member["owner"];
            std::string name = member["name"];
            if (!names.insert(name).second) {
                return "cluster " + spec.name + " has two members named " + name;
            }
            if (owner["role"] == kind.primaryRole && owner["nodePool"].is_null()) {
                ++controllers;
                if (name != spec.name + "-" + kind.primaryRole) {
                    return "the controller of " + spec.name + " is named " + name;
                }
            } else if (owner["nodePool"] == "cpu") {
                unsigned index = owner["index"];
                if (!indices.insert(index).second) {
                    return "cluster " + spec.name + " has two members with index " + std::to_string(index);
                }
                if (name != spec.name + "-cpu-" + std::to_string(index)) {
                    return "member " + name + " of " + spec.name + " has index " + std::to_string(index);
                }
            } else {
                return "member " + name + " of " + spec.name + " has an unexpected owner " + owner.dump();
            }
        }
        if (controllers != 1) {
            return "cluster " + spec.name + " has " + std::to_string(controllers) + " controllers";
        }
        std::set<unsigned> lowest;
        std::vector<std::string> nodeNames;
        for (unsigned i = 0; i < spec.count; ++i) {
            lowest.insert(i);
            nodeNames.push_back("cpu-" + std::to_string(i));
        }
        if (indices != lowest) {
            return "cluster " + spec.name + " has " + std::to_string(indices.size()) +
                   " pool members, not 0.." + std::to_string(spec.count) + " (exclusive)";
        }
        std::vector<std::string> shown;
        for (const auto& node : cluster["nodePools"][0]["nodes"]) {
            shown.push_back(node["name"]);
        }
        if (shown != nodeNames) {
            return "cluster " + spec.name + " shows the pool nodes " + json(shown).dump();
        }
    }
    for (const auto& id : deleted) {
        if (!seen.gone.contains(id)) {
            return "deleted cluster " + id + " is still there";
        }
    }
    for (const auto& [id, power] : seen.domains) {
        if (!instanceIds.contains(id)) {
            return "domain of " + id + " without an instance";
        }
    }
    // Every member steady: running with a running domain, or out of stock without one. A
    // node whose controller does not run stays creating: its first boot needs the address.
    std::set<std::string> controllerRuns;
    for (const auto& instance : seen.instances) {
        if (instance["owner"]["role"] == kind.primaryRole && instance["state"] == "running") {
            controllerRuns.insert(instance["owner"]["clusterId"]);
        }
    }
    for (const auto& instance : seen.instances) {
        std::string id = instance["id"];
        std::string state = instance["state"];
        bool waits = instance["owner"]["role"] != kind.primaryRole &&
                     !controllerRuns.contains(instance["owner"]["clusterId"]) && state == "creating";
        auto domain = seen.domains.find(id);
        if (state == "running" &&
            (domain == seen.domains.end() || domain->second != drivers::PowerState::Running)) {
            return "instance " + id + " is running without a running domain";
        }
        if (state == "out-of-stock" && domain != seen.domains.end()) {
            return "instance " + id + " is out of stock with a domain";
        }
        if (state != "running" && state != "out-of-stock" && !waits) {
            return "instance " + id + " (" + instance["name"].get<std::string>() + ") is still " + state;
        }
    }
    for (const auto& owner : seen.volumeOwners) {
        if (!instanceIds.contains(owner)) {
            return "volume of " + owner + " without an instance";
        }
    }
    return "";
}

std::string tail(const std::string& text, std::size_t length = 6000) {
    return text.size() <= length ? text : "…" + text.substr(text.size() - length);
}

// Leaves nothing of the test in the shared test driver, also when it ends early: the daemon
// is killed first (it would recreate what is removed), then the project's domains go, and
// the daemon's pool with its volumes.
struct Leftovers {
    Daemon& daemon;
    drivers::libvirt::Connection& observer;
    drivers::libvirt::LibvirtHypervisor& hypervisor;
    drivers::libvirt::LibvirtStorage& storage;
    std::string project;

    ~Leftovers() {
        if (daemon.running()) {
            daemon.kill();
        }
        if (auto domains = hypervisor.listManagedDomains(); domains && !project.empty()) {
            for (const auto& domain : *domains) {
                if (domain.projectId.str() == project) {
                    (void)hypervisor.destroyDomain(domain.name);
                    (void)hypervisor.undefineDomain(domain.name);
                }
            }
        }
        if (auto volumes = storage.listVolumes()) {
            for (const auto& volume : *volumes) {
                (void)storage.deleteVolume(volume.name);
            }
        }
        auto conn = observer.get();
        if (!conn) {
            return;
        }
        if (virStoragePoolPtr pool = virStoragePoolLookupByName(conn->get(), daemon.poolName().c_str())) {
            virStoragePoolDestroy(pool);
            virStoragePoolUndefine(pool);
            virStoragePoolFree(pool);
        }
    }
};

void crashTrials(const KindUnderTest& kind) {
    drivers::libvirt::Connection observer(kSharedUri);  // keeps the shared test driver alive
    REQUIRE_MESSAGE(observer.get().ok(), "libvirtd must be running (scripts/ensure-libvirtd.sh)");
    drivers::libvirt::LibvirtHypervisor hypervisor(observer);

    Daemon daemon(kConfig, "127.0.0.1:0", kSharedUri);
    drivers::libvirt::LibvirtStorage storage(observer, daemon.poolName(), daemon.poolPath(),
                                             daemon.dir() / "state" / "filesystems");
    Leftovers leftovers{daemon, observer, hypervisor, storage, {}};
    daemon.start();
    auto project = createProject(daemon.port(), "cluster-crash");
    leftovers.project = project;

    auto seed = std::random_device{}();
    MESSAGE("seed " << seed);
    std::mt19937 random(seed);
    std::map<std::string, Spec> acknowledged;  // 201 and not deleted; count as last acknowledged
    std::set<std::string> deleted;             // 204
    std::set<std::string> everCreated;
    int next = 0;
    std::map<std::string, int> done;  // what the workload did, for the summary
    auto call = [&](const std::string& method, const std::string& path, const std::string& body = {}) {
        return httpRequest(daemon.port(), method, kBase + path, inProject(project, !body.empty()), body);
    };
    auto create = [&] {
        std::string name = "c" + std::to_string(next++);
        unsigned count = 1 + random() % 2;
        auto created = call("POST", kind.routes, kind.createBody(name, count));
        REQUIRE_MESSAGE(created.status == 201, created.body);
        std::string id = json::parse(created.body).at("id");
        acknowledged[id] = Spec{name, count};
        everCreated.insert(id);
        ++done["creates"];
    };
    auto pick = [&] {
        auto at = acknowledged.begin();
        std::advance(at, random() % acknowledged.size());
        return at->first;
    };
    auto scale = [&] {
        auto id = pick();
        unsigned count = random() % (kMaxCount + 1);
        auto scaled =
            call("PATCH", kind.routes + "/" + id + "/node-pools/cpu", json{{"count", count}}.dump());
        REQUIRE_MESSAGE(scaled.status == 202, scaled.body);
        auto& before = acknowledged[id].count;
        ++done[count > before ? "scale-ups" : count < before ? "scale-downs" : "same-count scales"];
        before = count;
    };
    auto remove = [&] {
        auto id = pick();
        auto removed = call("DELETE", kind.routes + "/" + id);
        REQUIRE_MESSAGE(removed.status == 204, removed.body);
        acknowledged.erase(id);
        deleted.insert(id);
        ++done["deletes"];
    };

    auto began = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration slowest{};
    for (int trial = 0; trial < kTrials; ++trial) {
        CAPTURE(trial);
        // A shuffled workload; the crash comes after a random step of it (the rest is left
        // out), at once or after a short random pause. At most three clusters live at a
        // time, so that most members fit on the small test host.
        enum Step { Create, Scale, Remove };
        std::vector<Step> steps{Create, Scale, Scale, Remove};
        std::shuffle(steps.begin(), steps.end(), random);
        while (acknowledged.size() >= 3) {
            remove();
        }
        auto crashAfter = random() % steps.size();
        for (std::size_t step = 0; step <= crashAfter; ++step) {
            if (steps[step] == Create) {
                create();
            } else if (!acknowledged.empty()) {
                steps[step] == Scale ? scale() : remove();
            }
        }
        // Most of the work a request starts is done within milliseconds on the test driver.
        const unsigned pauses[] = {0, 10, 50, 300};
        auto limit = pauses[random() % 4];
        auto pause = limit == 0 ? 0 : random() % limit;
        std::this_thread::sleep_for(std::chrono::milliseconds(pause));
        daemon.kill();
        daemon.start();

        auto restarted = std::chrono::steady_clock::now();
        auto deadline = restarted + kConvergence;
        View seen;
        std::string why;
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            seen = look(kind, daemon, project, everCreated, hypervisor, storage);
            why = notConverged(kind, seen, acknowledged, deleted);
        } while (!why.empty() && std::chrono::steady_clock::now() < deadline);
        slowest = std::max(slowest, std::chrono::steady_clock::now() - restarted);
        REQUIRE_MESSAGE(why.empty(), why << " (crash after step " << crashAfter << ", pause " << pause
                                         << " ms)\n"
                                         << seen.describe() << "\nthe log before the crash (its end):\n"
                                         << tail(daemon.previousLogs()) << "\nthe log since the restart:\n"
                                         << daemon.log());
    }
    MESSAGE(kTrials << " trials in "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - began)
                           .count()
                    << " ms; slowest convergence "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms; "
                    << json(done).dump());

    // Clean up through the API: nothing of the project may be left in libvirt.
    for (const auto& [id, spec] : acknowledged) {
        CHECK(call("DELETE", kind.routes + "/" + id).status == 204);
        deleted.insert(id);
    }
    acknowledged.clear();
    View seen;
    std::string why;
    auto deadline = std::chrono::steady_clock::now() + kConvergence;
    do {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        seen = look(kind, daemon, project, everCreated, hypervisor, storage);
        why = notConverged(kind, seen, acknowledged, deleted);
    } while (!why.empty() && std::chrono::steady_clock::now() < deadline);
    CHECK_MESSAGE(why.empty(), why << "\n" << seen.describe());
    CHECK(seen.instances.empty());
    CHECK(seen.domains.empty());
    CHECK(seen.volumeOwners.empty());
    CHECK(daemon.stop() == 0);
}

}  // namespace

TEST_CASE("crash: SIGKILL amid Slurm cluster creates, scales and deletes, restart converges") {
    crashTrials(kSlurm);
}

TEST_CASE("crash: SIGKILL amid Kubernetes cluster creates, scales and deletes, restart converges") {
    crashTrials(kKubernetes);
}

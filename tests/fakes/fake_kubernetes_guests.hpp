#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "fakes/scripted_guest_agent.hpp"

namespace gpuhost::test {

struct KubernetesNode {
    bool ready = true;
    bool unschedulable = false;
    std::string kubeletVersion = "v1.31.2";
};

struct KubernetesGuest {
    bool up = false;
    std::set<std::string> files;                  // markers present
    std::map<std::string, KubernetesNode> nodes;  // on an initialized control plane
    bool apiServer = false;
    bool drainBlocked = false;                   // a PodDisruptionBudget holds every drain
    std::vector<std::string> tokens;             // kubeadm token create
    std::map<std::string, std::string> written;  // writeFile: path -> bytes
    std::set<std::string> activeUnits;           // systemd-run units still running
    /// Each upgrade started with systemd-run: the runner's arguments after its path.
    std::vector<std::vector<std::string>> upgrades;
};

/// The guests of Kubernetes clusters as the agent drives them, in memory. A control plane
/// finishes `kubeadm init` when the test says so (initialize: its done marker appears and its
/// API server lists nodes); a worker joins when the test says so (join: it appears in the
/// control plane's node list). kubectl get/cordon/drain/delete, `kubeadm token create`, `test
/// -e` and `tail` behave like the real ones as far as the agent can tell; an upgrade started
/// with systemd-run runs until the test finishes it (finishUpgrade). Programs exit at
/// their first status poll; guests answer once `boot` has been called for the domain.
class FakeKubernetesGuests final : public ScriptedGuestAgent<KubernetesGuest> {
  public:
    using Node = KubernetesNode;
    using Guest = KubernetesGuest;

    void boot(const std::string& domain) {
        std::lock_guard lock(mutex_);
        guests_[domain].up = true;
    }
    void initialize(const std::string& domain) {
        std::lock_guard lock(mutex_);
        auto& guest = guests_[domain];
        guest.files.insert("/var/lib/gpuhost/kubeadm-init.done");
        guest.apiServer = true;
        guest.nodes["control-plane"] = Node{};
    }
    void fail(const std::string& domain, const std::string& marker) {
        std::lock_guard lock(mutex_);
        guests_[domain].files.insert(marker);
    }
    void join(const std::string& controlPlane, const std::string& node, bool ready = true) {
        std::lock_guard lock(mutex_);
        guests_[controlPlane].nodes[node] = Node{ready, false, "v1.31.2"};
    }
    /// The upgrade runner started on `domain` finishes: its unit stops and it leaves its done
    /// marker (and the node's kubelet reports the version on `controlPlane`, unless
    /// `kubeletReports` is false: it restarted a moment before the marker), or its failed one.
    void finishUpgrade(const std::string& domain, const std::string& controlPlane, const std::string& node,
                       bool succeeded, bool kubeletReports = true) {
        std::lock_guard lock(mutex_);
        auto& guest = guests_[domain];
        REQUIRE_MESSAGE(!guest.upgrades.empty(), "no upgrade was started on " << domain);
        const auto& args = guest.upgrades.back();  // MODE VERSION REVISION FAILED DONE LOG
        guest.activeUnits.clear();
        guest.files.insert(succeeded ? args[4] : args[3]);
        if (succeeded && kubeletReports) {
            guests_[controlPlane].nodes[node].kubeletVersion = "v" + args[1];
        }
    }
    /// Someone removes a marker (an operator, after fixing the node).
    void removeFile(const std::string& domain, const std::string& path) {
        std::lock_guard lock(mutex_);
        guests_[domain].files.erase(path);
    }
    /// The API server lists `node` Ready or NotReady (a kubelet coming back after a restart).
    void setReady(const std::string& controlPlane, const std::string& node, bool ready) {
        std::lock_guard lock(mutex_);
        guests_[controlPlane].nodes[node].ready = ready;
    }
    /// The node's kubelet reports `version` (it restarted on the new one).
    void setKubeletVersion(const std::string& controlPlane, const std::string& node,
                           const std::string& version) {
        std::lock_guard lock(mutex_);
        guests_[controlPlane].nodes[node].kubeletVersion = version;
    }
    void blockDrains(const std::string& controlPlane, bool blocked) {
        std::lock_guard lock(mutex_);
        guests_[controlPlane].drainBlocked = blocked;
    }

  private:
    // `kubectl get nodes -o json` as kubectl prints it: kind List, items with their own kind.
    static drivers::GuestExecStatus nodeList(const Guest& guest) {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& [name, node] : guest.nodes) {
            items.push_back({{"apiVersion", "v1"},
                             {"kind", "Node"},
                             {"metadata",
                              {{"name", name},
                               {"creationTimestamp", "2026-12-01T03:00:00Z"},
                               {"labels", {{"kubernetes.io/hostname", name}}}}},
                             {"spec", node.unschedulable ? nlohmann::json{{"unschedulable", true}}
                                                         : nlohmann::json::object()},
                             {"status",
                              {{"conditions",
                                {{{"type", "Ready"},
                                  {"status", node.ready ? "True" : "False"},
                                  {"lastHeartbeatTime", "2026-12-01T03:05:00Z"},
                                  {"lastTransitionTime", "2026-12-01T03:01:00Z"},
                                  {"reason", node.ready ? "KubeletReady" : "KubeletNotReady"},
                                  {"message", node.ready ? "kubelet is posting ready status"
                                                         : "container runtime network not ready"}}}},
                               {"nodeInfo", {{"kubeletVersion", node.kubeletVersion}}}}}});
        }
        return exited(0, nlohmann::json{{"apiVersion", "v1"},
                                        {"kind", "List"},
                                        {"items", items},
                                        {"metadata", {{"resourceVersion", ""}}}}
                             .dump());
    }

    drivers::GuestExecStatus kubectl(Guest& guest, const std::vector<std::string>& argv) {
        // kubectl --kubeconfig /etc/kubernetes/admin.conf VERB ...
        if (argv.size() < 4 || argv[1] != "--kubeconfig" || argv[2] != "/etc/kubernetes/admin.conf") {
            return exited(1, {}, "error: unexpected kubectl arguments");
        }
        if (!guest.apiServer) {
            return exited(1, {}, "The connection to the server 10.0.0.5:6443 was refused");
        }
        const auto& verb = argv[3];
        if (verb == "get") {
            return nodeList(guest);
        }
        auto node = argv.size() > 4 ? guest.nodes.find(argv[verb == "delete" ? 5 : 4]) : guest.nodes.end();
        if (verb == "delete") {
            if (node != guest.nodes.end()) {
                guest.nodes.erase(node);
            }
            return exited(0);
        }
        if (node == guest.nodes.end()) {
            return exited(1, {}, "Error from server (NotFound): nodes not found");
        }
        if (verb == "cordon" || verb == "uncordon") {
            node->second.unschedulable = verb == "cordon";
            return exited(0);
        }
        if (verb == "drain") {
            return guest.drainBlocked
                       ? exited(1, {}, "Cannot evict pod as it would violate the pod's disruption budget.")
                       : exited(0);
        }
        return exited(1, {}, "unknown verb " + verb);
    }

    drivers::GuestExecStatus run(Guest& guest, const std::vector<std::string>& argv,
                                 const std::string& input) override {
        const auto& program = argv.front();
        if (program == "install") {  // writeFile: install -D -m MODE -o O -g G /dev/stdin PATH
            guest.written[argv.back()] = input;
            return exited(0);
        }
        if (program == "systemctl" && argv.size() == 4 && argv[1] == "is-active") {
            return exited(guest.activeUnits.contains(argv[3]) ? 0 : 3);
        }
        if (program == "systemd-run" && argv.size() == 12 && argv[4] == "--") {
            if (!guest.written.contains(argv[5])) {
                return exited(203, {}, "Failed to execute " + argv[5] + ": No such file or directory");
            }
            guest.activeUnits.insert(argv[1].substr(std::string_view("--unit=").size()));
            guest.upgrades.emplace_back(argv.begin() + 6, argv.end());
            return exited(0);
        }
        if (program == "rm" && argv.size() == 3 && argv[1] == "-f") {
            guest.files.erase(argv[2]);
            return exited(0);
        }
        if (program == "test" && argv.size() == 3) {
            return exited(guest.files.contains(argv[2]) ? 0 : 1);
        }
        if (program == "tail") {
            return exited(0, "[preflight] Some fatal errors occurred\n");
        }
        if (program == "kubectl") {
            return kubectl(guest, argv);
        }
        if (program == "kubeadm" && argv.size() >= 4 && argv[1] == "token" && argv[2] == "create") {
            if (!guest.apiServer) {
                return exited(1, {}, "failed to create bootstrap token: connection refused");
            }
            guest.tokens.push_back(argv[3]);
            return exited(0, argv[3] + "\n");
        }
        return exited(127, {}, "unknown program " + program);
    }
};

}  // namespace gpuhost::test

#include "services/kubernetes_nodes.hpp"

#include <algorithm>
#include <set>

#include "log.hpp"
#include "node_list.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

model::KubernetesNodeFacts factsOf(const kubernetes::NodeState& node) {
    model::KubernetesNodeFacts facts;
    facts.state = node.state;
    facts.unschedulable = node.unschedulable;
    facts.kubeletVersion = node.kubeletVersion;
    facts.createdAt = node.createdAt;
    for (const auto& c : node.conditions) {
        facts.conditions.push_back(
            {c.type, c.status, c.lastHeartbeatTime, c.lastTransitionTime, c.reason, c.message});
    }
    if (node.accelerator) {
        facts.accelerator = model::NodeAccelerator{node.accelerator->type, node.accelerator->product,
                                                   node.accelerator->driverVersion};
    }
    facts.labels = node.labels;
    for (const auto& t : node.taints) {
        facts.taints.push_back({t.key, t.value, t.effect});
    }
    return facts;
}

std::string withoutV(std::string version) {
    return version.starts_with('v') ? version.substr(1) : version;
}

}  // namespace

asio::awaitable<Result<SchedulerReport>> KubernetesNodes::observe(const ClusterState& state) const {
    const auto* controlPlane = state.memberWithRole(kControlPlaneRole);
    if (controlPlane == nullptr || controlPlane->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the control plane is not running", {}};
    }
    auto text = co_await guest_.kubectl(state, *controlPlane, guestArgv("get", "nodes", "-o", "json"));
    if (!text) {
        co_return Error{ErrorCode::Unavailable, text.error().message, {}};  // not initialized yet
    }
    auto nodes = kubernetes::parseNodeList(*text);
    if (!nodes) {
        co_return nodes.error();
    }
    std::set<std::string> members;
    for (const auto& member : state.members) {
        members.insert(kubernetesNodeName(*member.owner));
    }
    SchedulerReport report;
    for (const auto& node : *nodes) {
        if (!members.contains(node.name)) {
            // A node object with no VM behind it (a crash between its VM's delete and this):
            // remove it, so no NotReady ghost stays.
            if (isSafeNodeName(node.name)) {
                auto removed = co_await guest_.kubectl(
                    state, *controlPlane, guestArgv("delete", "node", node.name, "--ignore-not-found"));
                log::info("removed a Kubernetes node with no VM",
                          {{"cluster", state.entry.cluster.id.str()},
                           {"node", node.name},
                           {"ok", removed ? "true" : removed.error().message}});
            }
            continue;
        }
        NodeReport entry;
        entry.ready = node.state == "Ready";
        entry.states = {node.statusText()};
        entry.version = withoutV(node.kubeletVersion);
        entry.kubernetes = factsOf(node);
        if (node.name == kControlPlaneRole) {
            report.version = entry.version;
        }
        report.nodes[node.name] = std::move(entry);
    }
    co_return report;
}

asio::awaitable<Result<bool>> KubernetesNodes::retire(const ClusterState& state,
                                                      const std::vector<Instance>& leaving) const {
    const auto* controlPlane = state.memberWithRole(kControlPlaneRole);
    if (controlPlane == nullptr || controlPlane->state == InstanceState::Deleting ||
        controlPlane->state == InstanceState::OutOfStock || controlPlane->state == InstanceState::Failed) {
        co_return true;  // no API server that could know them
    }
    if (controlPlane->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the control plane is not running", {}};
    }
    auto text = co_await guest_.kubectl(state, *controlPlane, guestArgv("get", "nodes", "-o", "json"));
    if (!text) {
        // Not initialized yet: no node can have joined; the ghost sweep covers a race.
        if (state.entry.progress.report.has_value()) {
            co_return Error{ErrorCode::Unavailable, text.error().message, {}};
        }
        co_return true;
    }
    auto nodes = kubernetes::parseNodeList(*text);
    if (!nodes) {
        co_return nodes.error();
    }
    auto drainTimeout = std::to_string(drainTimeout_.count()) + "s";
    bool allGone = true;
    for (const auto& member : leaving) {
        auto name = kubernetesNodeName(*member.owner);
        bool listed = std::any_of(nodes->begin(), nodes->end(),
                                  [&](const kubernetes::NodeState& node) { return node.name == name; });
        if (!listed || !isSafeNodeName(name)) {
            continue;
        }
        if (auto cordoned = co_await guest_.kubectl(state, *controlPlane, guestArgv("cordon", name));
            !cordoned) {
            co_return cordoned.error();
        }
        auto drained = co_await guest_.kubectlFor(
            state, *controlPlane,
            guestArgv("drain", name, "--ignore-daemonsets", "--delete-emptydir-data",
                      "--timeout=" + drainTimeout),
            std::chrono::duration_cast<std::chrono::milliseconds>(drainTimeout_) + guest_.timeout());
        if (!drained) {
            // A PodDisruptionBudget or a slow pod: the node stays cordoned and is tried again.
            log::info("Kubernetes node not drained yet", {{"cluster", state.entry.cluster.id.str()},
                                                          {"node", name},
                                                          {"why", drained.error().message}});
            allGone = false;
            continue;
        }
        if (auto removed = co_await guest_.kubectl(state, *controlPlane,
                                                   guestArgv("delete", "node", name, "--ignore-not-found"));
            !removed) {
            co_return removed.error();
        }
    }
    co_return allGone;
}

}  // namespace gpuhost::agent

// How a cluster looks from outside: its status and nodes, derived from the spec, the
// members' VM states and the scheduler's last report. Pure.
#include <algorithm>

#include "services/cluster_members.hpp"
#include "services/cluster_service.hpp"

namespace gpuhost::agent {

using model::ClusterNode;
using model::ClusterPhase;
using model::Instance;
using model::InstanceState;

namespace {

ClusterNode nodeOf(const Instance& member, const ClusterState& state, const ClusterKindDriver& kind) {
    ClusterNode node;
    node.name = kind.nodeName(*member.owner);
    node.instanceId = member.id;
    node.instanceState = std::string(model::nameOf(member.state));
    node.privateIp = member.ip;
    node.publicIp = member.ip;  // one address per VM here: the host's VM network
    const auto& report = state.entry.progress.report;
    auto found = report ? report->nodes.find(node.name) : decltype(report->nodes.end()){};
    if (report && found != report->nodes.end()) {
        node.states = found->second.states;
        node.slurmdVersion = found->second.version;
        node.partitions = found->second.partitions;
        node.reservation = found->second.reservation;
        node.reason = found->second.reason;
        node.kubernetes = found->second.kubernetes;
        return node;
    }
    node.states = {"UNKNOWN"};
    if (member.state != InstanceState::Running) {
        node.reason = "VM " + node.instanceState + (member.reason.empty() ? "" : ": " + member.reason);
    } else if (!member.owner->nodePool.empty()) {
        auto registry = std::string(kind.registry());
        node.reason =
            report ? "not registered with " + registry + " yet" : registry + " has not answered yet";
    }
    return node;
}

std::string join(const std::vector<std::string>& parts) {
    std::string text;
    for (const auto& part : parts) {
        text += (text.empty() ? "" : ", ") + part;
    }
    return text;
}

unsigned desiredCount(const ClusterState& state, const ClusterKindDriver& kind) {
    unsigned total = 0;
    for (const auto& role : kind.roles(state.entry.cluster)) {
        total += role.count;
    }
    for (const auto& pool : state.entry.cluster.pools) {
        total += pool.count;
    }
    return total;
}

model::ClusterStatus statusOf(const ClusterState& state, const ClusterKindDriver& kind) {
    const auto& cluster = state.entry.cluster;
    const auto& progress = state.entry.progress;
    std::vector<std::string> waiting;
    std::vector<std::string> outOfStock;
    std::vector<std::string> broken;
    unsigned live = 0;
    for (const auto& member : state.members) {
        auto name = kind.nodeName(*member.owner);
        auto what = name + " (" + std::string(model::nameOf(member.state)) +
                    (member.reason.empty() ? "" : ": " + member.reason) + ")";
        if (member.state == InstanceState::OutOfStock) {
            outOfStock.push_back(what);
        } else if (member.state == InstanceState::Failed) {
            broken.push_back(what);
        } else if (member.state != InstanceState::Running && member.state != InstanceState::Deleting) {
            waiting.push_back(what);
        }
        live += member.state == InstanceState::Deleting ? 0 : 1;
    }
    if (cluster.deleting) {
        return {ClusterPhase::Deleting, state.members.empty()
                                            ? "removing the cluster"
                                            : std::to_string(state.members.size()) + " VMs still to delete"};
    }
    if (progress.failed) {
        return {ClusterPhase::Error, progress.step + ": " + progress.problem};
    }
    if (!outOfStock.empty()) {
        return {ClusterPhase::OutOfStock,
                "not enough capacity for the cluster's VMs as a group: " + join(outOfStock)};
    }
    if (!broken.empty()) {
        return {ClusterPhase::Error, "VMs in error: " + join(broken)};
    }
    auto desired = desiredCount(state, kind);
    auto withProblem = [&](std::string details) {
        if (!progress.problem.empty()) {
            details += (details.empty() ? "" : "; ") + std::string("last error: ") + progress.problem;
        }
        return details;
    };
    if (live != desired || !waiting.empty()) {
        std::string details = live < desired ? std::to_string(desired - live) + " VMs to admit" : "";
        if (live > desired) {
            details = progress.step;
        }
        if (!waiting.empty()) {
            details += (details.empty() ? "" : "; ") + std::string("VMs not running yet: ") + join(waiting);
        }
        auto phase = progress.everReady
                         ? ClusterPhase::Scaling
                         : (state.members.empty() ? ClusterPhase::Pending : ClusterPhase::Provisioning);
        return {phase, withProblem(details)};
    }
    if (kind.upgrading(state)) {
        return {ClusterPhase::Upgrading, withProblem(progress.step.empty() ? "" : "step: " + progress.step)};
    }
    if (allNodesReady(state, kind)) {
        return {ClusterPhase::Ready, ""};
    }
    std::vector<std::string> notReady;
    const auto& report = progress.report;
    for (const auto& member : state.members) {
        if (member.owner->nodePool.empty()) {
            continue;
        }
        auto node = nodeOf(member, state, kind);
        auto reported = report ? report->nodes.find(node.name) : decltype(report->nodes.end()){};
        if (report && reported != report->nodes.end() && reported->second.ready) {
            continue;
        }
        notReady.push_back(node.name + " (" + join(node.states) + (node.reason ? ": " + *node.reason : "") +
                           ")");
    }
    std::string details = progress.step.empty() ? "" : "step: " + progress.step;
    if (!notReady.empty()) {
        details += (details.empty() ? "" : "; ") + std::string("nodes not ready: ") + join(notReady);
    }
    return {progress.everReady ? ClusterPhase::Scaling : ClusterPhase::Bootstrapping, withProblem(details)};
}

}  // namespace

bool allNodesReady(const ClusterState& state, const ClusterKindDriver& kind) {
    const auto& report = state.entry.progress.report;
    if (!report) {
        return false;
    }
    unsigned live = 0;
    for (const auto& member : state.members) {
        if (member.state != InstanceState::Running) {
            return false;
        }
        ++live;
        if (member.owner->nodePool.empty()) {
            continue;
        }
        auto found = report->nodes.find(kind.nodeName(*member.owner));
        if (found == report->nodes.end() || !found->second.ready) {
            return false;
        }
    }
    return live == desiredCount(state, kind);
}

model::ClusterView viewOf(const ClusterState& state, const ClusterKindDriver& kind) {
    model::ClusterView view;
    view.cluster = state.entry.cluster;
    view.status = statusOf(state, kind);
    const auto& report = state.entry.progress.report;
    view.version = report && !report->version.empty() ? report->version : state.entry.cluster.version;
    for (const auto& pool : state.entry.cluster.pools) {
        model::ClusterPoolView poolView{pool, {}};
        std::vector<const Instance*> members;
        for (const auto& member : state.members) {
            if (member.owner->nodePool == pool.name) {
                members.push_back(&member);
            }
        }
        std::sort(members.begin(), members.end(),
                  [](const Instance* a, const Instance* b) { return a->owner->index < b->owner->index; });
        for (const auto* member : members) {
            poolView.nodes.push_back(nodeOf(*member, state, kind));
        }
        view.pools.push_back(std::move(poolView));
    }
    for (const auto& member : state.members) {
        if (model::isPrimaryRole(member.owner->role)) {
            view.controller = nodeOf(member, state, kind);
        } else if (member.owner->role == "login") {
            view.loginNodes.push_back(nodeOf(member, state, kind));
        }
    }
    if (state.entry.cluster.loginCount == 0 && view.controller) {
        view.loginNodes.push_back(*view.controller);  // the controller is the login node
    }
    kind.describe(state, view);
    return view;
}

}  // namespace gpuhost::agent

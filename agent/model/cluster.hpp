#pragma once

// Clusters: one core, several kinds (Slurm today, Kubernetes next). A cluster is desired
// state (its pools, counts, users) that the agent turns into owned instances and drives
// from inside the guests. Values and validation only; no I/O.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"
#include "model/project.hpp"
#include "model/uuid.hpp"

namespace gpuhost::model {

enum class ClusterKind { Slurm, Kubernetes };

std::string_view nameOf(ClusterKind kind);  // "slurm", "kubernetes"
std::optional<ClusterKind> parseClusterKind(std::string_view text);

/// One node pool: `count` instances of one type. Slurm pools name the partitions their
/// nodes join (empty: the cluster's default partition).
struct ClusterPool {
    std::string name;
    std::string type;
    unsigned count = 0;
    std::vector<std::string> partitions;

    bool operator==(const ClusterPool&) const = default;
};

/// A user of the cluster's nodes: a POSIX account with the same uid on every node, its
/// authorized_keys, and sudo or not.
struct ClusterUser {
    std::string username;
    std::vector<std::string> sshKeys;  // normalized authorized_keys lines
    bool sudo = false;
    unsigned uid = 0;

    bool operator==(const ClusterUser&) const = default;
};

inline constexpr unsigned kFirstClusterUid = 20000;  // above Debian's dynamic range users (1000-59999 is
                                                     // "normal", but images create theirs from 1000)

/// A Kubernetes cluster's address ranges (normalized CIDRs).
struct KubernetesNetwork {
    std::string podCidr;
    std::string serviceCidr;

    bool operator==(const KubernetesNetwork&) const = default;
};

/// The member the agent drives a cluster through: Slurm's controller, Kubernetes' control plane.
inline bool isPrimaryRole(std::string_view role) {
    return role == "controller" || role == "control-plane";
}

/// A cluster as the user asked for it (and as the store keeps it).
struct Cluster {
    Uuid id;
    Uuid projectId;
    ClusterKind kind = ClusterKind::Slurm;
    std::string name;
    std::string version;         // as asked; empty: the region's default
    std::string controllerType;  // the instance type of the controller / control plane
    unsigned loginCount = 0;     // Slurm: separate login nodes (0: the controller is the login node)
    std::string loginType;
    std::vector<ClusterPool> pools;
    std::vector<ClusterUser> users;
    std::optional<KubernetesNetwork> network;  // Kubernetes only
    bool deleting = false;
    /// How often the owner asked again for the version a stopped upgrade roll was moving to:
    /// each ask retries the node the roll stopped on (the kind counts the asks it has served).
    unsigned rollRetries = 0;
    Timestamp createdAt{};

    const ClusterPool* findPool(std::string_view pool) const;
    const ClusterUser* findUser(std::string_view username) const;
    /// The lowest uid at or above kFirstClusterUid that no user of the cluster has.
    unsigned nextUid() const;
};

/// The documented status types of a cluster, in the order a healthy cluster moves through
/// them (SCALING while a pool changes size, DELETING until every VM is gone).
enum class ClusterPhase {
    Pending,
    Provisioning,
    Bootstrapping,
    Ready,
    Scaling,
    Upgrading,
    Deleting,
    OutOfStock,
    Error
};

std::string_view nameOf(ClusterPhase phase);  // "PENDING", "PROVISIONING", ...

struct ClusterStatus {
    ClusterPhase phase = ClusterPhase::Pending;
    std::string details;  // the step under way and the nodes still pending or failed
};

struct NodeCondition {
    std::string type;
    std::string status;
    std::string lastHeartbeatTime;
    std::string lastTransitionTime;
    std::string reason;
    std::string message;
};

struct NodeTaint {
    std::string key;
    std::string value;
    std::string effect;
};

struct NodeAccelerator {
    std::string type;
    std::string product;
    std::string driverVersion;
};

/// What a Kubernetes API server says of its node.
struct KubernetesNodeFacts {
    std::string state;  // Ready, NotReady, Unknown
    bool unschedulable = false;
    std::string kubeletVersion;
    std::string createdAt;
    std::vector<NodeCondition> conditions;
    std::optional<NodeAccelerator> accelerator;
    std::map<std::string, std::string> labels;
    std::vector<NodeTaint> taints;
};

/// A node as the API shows it: the VM's facts and, once the cluster's scheduler answers,
/// its own view (Slurm: states, slurmd version, partitions, reservation, reason;
/// Kubernetes: the node object's state, conditions, labels, taints).
struct ClusterNode {
    std::string name;  // Slurm node name (<pool>-<index>), or the role for the controller
    Uuid instanceId;
    std::string instanceState;        // the VM's state (running, creating, ...)
    std::vector<std::string> states;  // from the scheduler; until it answers, from the VM's state
    std::string slurmdVersion;
    std::optional<std::string> publicIp;
    std::optional<std::string> privateIp;
    std::vector<std::string> partitions;
    std::optional<std::string> reservation;
    std::optional<std::string> reason;
    std::optional<KubernetesNodeFacts> kubernetes;  // once the API server lists the node
};

struct ClusterPoolView {
    ClusterPool pool;
    std::vector<ClusterNode> nodes;
};

/// A cluster as GET shows it: the desired state, the derived status, the nodes.
struct ClusterView {
    Cluster cluster;
    ClusterStatus status;
    std::string version;  // what really runs once known, else what was asked
    std::optional<ClusterNode> controller;
    std::vector<ClusterNode> loginNodes;  // the controller itself when there are no separate ones
    std::vector<ClusterPoolView> pools;
    /// Kubernetes: the cluster CA (PEM) and the API server's URL once the control plane has an address.
    std::optional<std::string> certificateAuthority;
    std::optional<std::string> endpoint;
};

struct ClusterUserView {
    ClusterUser user;
    bool applied = false;  // present with these keys and sudo on every running node
};

/// A request to change a user: what is set replaces, what is absent stays.
struct ClusterUserUpdate {
    std::optional<std::vector<std::string>> sshKeys;
    std::optional<bool> sudo;
};

inline constexpr std::size_t kMaxClusterPools = 16;
inline constexpr std::size_t kMaxPoolPartitions = 8;
inline constexpr std::size_t kMaxClusterUsers = 256;

/// Slurm partition names: [A-Za-z0-9_.-], 1-63 characters, starting with a letter or digit,
/// not DEFAULT or ALL (Slurm reads those as keywords); the error names `field`.
Result<void> validatePartitionName(std::string_view name, const std::string& field);

/// Pool names are resource names (they become hostnames) and unique within the cluster;
/// partitions valid and not repeated within a pool. `field` is e.g. "nodePools[2]".
Result<void> validatePool(const ClusterPool& pool, const std::string& field);

}  // namespace gpuhost::model

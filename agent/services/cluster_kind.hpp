#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster.hpp"
#include "model/instance.hpp"
#include "seed.hpp"
#include "services/catalog.hpp"
#include "services/cluster_table.hpp"
#include "services/guest_exec.hpp"

namespace gpuhost::agent {

/// A member the cluster needs outside its pools (a controller, a login node).
struct RoleSlot {
    std::string role;  // "controller", "login", "control-plane"
    unsigned count = 0;
    std::string type;
};

/// A cluster and its members as one job sees them, with a way into each member's guest.
struct ClusterState {
    ClusterEntry entry;
    std::vector<model::Instance> members;  // oldest first
    /// The guest of a member (nullopt: its host is not configured).
    std::function<std::optional<GuestTarget>(const model::Instance&)> guestOf;

    const model::Instance* memberWithRole(std::string_view role) const {
        for (const auto& member : members) {
            if (member.owner && member.owner->role == role) {
                return &member;
            }
        }
        return nullptr;
    }
};

/// What one in-guest step did.
struct StepOutcome {
    bool done = false;       // nothing left to do until something changes
    bool retrySoon = false;  // transient (a guest not answering yet): try again with backoff
    std::string step;        // what is under way or was last done
    std::string problem;     // why it failed ("" when it did not)
    bool failed = false;     // the failure will not pass on its own (the cluster is in ERROR)
    bool recheck = false;    // see waiting()
    /// The users now known to be applied, per member (nullopt: unchanged).
    std::optional<std::map<model::Uuid, std::map<std::string, model::ClusterUser>>> usersOn{};
    /// The kind's durable progress to store before the next step (nullopt: unchanged).
    std::optional<std::string> kindState{};
    /// Look again after this long even when nothing changes (Kubernetes: renew the join token).
    std::optional<std::chrono::milliseconds> recheckAfter{};
    /// The step waits to see a change it made in the scheduler's report of the nodes (an
    /// upgraded node Ready on its new version): ask the scheduler now, not at the next poll.
    bool observeSoon = false;

    static StepOutcome finished(std::string step) { return make(true, false, std::move(step), {}, false); }
    static StepOutcome transient(std::string step, std::string problem) {
        return make(false, true, std::move(step), std::move(problem), false);
    }
    /// A normal wait (a guest still booting): looked at again after a short, fixed delay,
    /// not the growing backoff of a failure.
    static StepOutcome waiting(std::string step) {
        auto outcome = make(false, false, std::move(step), {}, false);
        outcome.recheck = true;
        return outcome;
    }
    static StepOutcome fatal(std::string step, std::string problem) {
        return make(false, false, std::move(step), std::move(problem), true);
    }

  private:
    static StepOutcome make(bool done, bool retrySoon, std::string step, std::string problem, bool failed) {
        StepOutcome outcome;
        outcome.done = done;
        outcome.retrySoon = retrySoon;
        outcome.step = std::move(step);
        outcome.problem = std::move(problem);
        outcome.failed = failed;
        return outcome;
    }
};

/// What makes Slurm Slurm and Kubernetes Kubernetes, on one cluster core: the core owns the
/// spec, the members (admission as a group, scale, delete), the work queue and the status;
/// a kind says which roles a cluster needs, what each member's first boot gets, what runs in
/// the guests after it, how its scheduler sees the nodes, and how nodes leave it.
class ClusterKindDriver {
  public:
    virtual ~ClusterKindDriver() = default;
    virtual model::ClusterKind kind() const = 0;
    /// The version a cluster gets when it names none, and whether one asked for is offered.
    virtual std::string defaultVersion() const = 0;
    /// The key material a new cluster gets (Slurm: a munge key); kept in the store, never shown.
    virtual model::Result<std::string> newSecret() const = 0;
    /// The kind's durable progress a new cluster starts with (Kubernetes: its first join
    /// token); kept in the store, never shown, updated through StepOutcome::kindState.
    virtual model::Result<std::string> newKindState(const model::Cluster& /*cluster*/) const {
        return std::string();
    }
    /// Fills what a new cluster left to the region (Kubernetes: the pod and service blocks).
    virtual void applyDefaults(model::Cluster& /*cluster*/) const {}
    /// Kind rules on a new or changed spec (InvalidArgument naming the field).
    virtual model::Result<void> validate(const model::Cluster& cluster) const = 0;
    /// Whether `after` may follow the cluster `before` (a version change: an upgrade). By
    /// default the version stays what it was created with.
    virtual model::Result<void> validateChange(const ClusterEntry& before,
                                               const model::Cluster& after) const {
        if (after.version != before.cluster.version) {
            return model::Error::invalid("version", "this kind of cluster cannot change its version");
        }
        return {};
    }
    /// Whether the cluster is moving to its spec's version (status UPGRADING).
    virtual bool upgrading(const ClusterState& /*cluster*/) const { return false; }
    /// Whether a move to the spec's version stopped on a failure (ERROR): asking for that
    /// version again retries it (Cluster::rollRetries).
    virtual bool upgradeStopped(const ClusterEntry& /*cluster*/) const { return false; }
    /// Adds what the kind shows of a cluster beyond its nodes (Kubernetes: the CA, the endpoint).
    virtual void describe(const ClusterState& /*cluster*/, model::ClusterView& /*view*/) const {}
    /// The cluster is gone: drop what the kind keeps of it in memory.
    virtual void forget(const model::Uuid& /*cluster*/) {}
    /// A client configuration for the cluster (Kubernetes: an admin kubeconfig).
    virtual model::Result<std::string> clientConfig(const ClusterState& /*cluster*/) const {
        return model::Error{
            model::ErrorCode::NotImplemented, "this kind of cluster has no client configuration", {}};
    }
    /// What keeps the list of nodes, as status details name it ("the scheduler", "the API server").
    virtual std::string_view registry() const { return "the scheduler"; }
    /// The image every member boots.
    virtual std::string image() const = 0;
    /// The members outside the pools.
    virtual std::vector<RoleSlot> roles(const model::Cluster& cluster) const = 0;
    /// The scheduler's name for a member (Slurm: <pool>-<index>; the role for others).
    virtual std::string nodeName(const model::InstanceOwner& owner) const = 0;

    /// The member's bootstrap part (nullopt: none). Unavailable while it cannot be made yet
    /// (a node needs the controller's address): its provisioning waits and retries.
    virtual model::Result<std::optional<cloudinit::Part>> bootstrapPart(
        const ClusterState& cluster, const model::Instance& member) const = 0;
    /// One pass of in-guest work (configure the controller, apply users); idempotent, as it
    /// runs again after every restart.
    virtual boost::asio::awaitable<StepOutcome> bootstrap(const ClusterState& cluster) = 0;
    /// Asks the scheduler about its nodes (Unavailable until it answers), and removes nodes
    /// it lists that have no member (ghosts).
    virtual boost::asio::awaitable<model::Result<SchedulerReport>> observe(const ClusterState& cluster) = 0;
    /// Takes `leaving` out of the scheduler (drain, then remove). True once none of them is
    /// known to it any more, so their VMs may go; false while a node still runs work.
    virtual boost::asio::awaitable<model::Result<bool>> retire(
        const ClusterState& cluster, const std::vector<model::Instance>& leaving) = 0;
};

}  // namespace gpuhost::agent

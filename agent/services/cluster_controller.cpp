#include "services/cluster_controller.hpp"

#include "hypervisor.hpp"
#include "log.hpp"
#include "services/cluster_members.hpp"
#include "services/cluster_views.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;

ClusterController::ClusterController(asio::any_io_executor executor, ClusterTable& table,
                                     InstanceService& instances, InstanceController& instanceController,
                                     const HostRegistry& hosts, ClusterStore& store, BlockingPool& storePool,
                                     std::vector<ClusterKindDriver*> kinds, const ClusterOptions& options,
                                     RetryPolicy retry)
    : executor_(executor),
      table_(table),
      instances_(instances),
      instanceController_(instanceController),
      hosts_(hosts),
      store_(store),
      storePool_(storePool),
      kinds_(std::move(kinds)),
      options_(options),
      queue_(
          executor, [this](model::Uuid id, unsigned job) { return run(id, job); }, retry) {}

void ClusterController::start() {
    for (const auto& id : table_.ids()) {
        queue_.schedule(id, Members | Bootstrap | Poll);
    }
}

void ClusterController::stop() {
    queue_.stop();
}

ClusterKindDriver* ClusterController::driver(model::ClusterKind kind) const {
    for (auto* candidate : kinds_) {
        if (candidate->kind() == kind) {
            return candidate;
        }
    }
    return nullptr;
}

std::optional<ClusterState> ClusterController::state(const model::Uuid& id) const {
    auto entry = table_.snapshot(id);
    if (!entry) {
        return std::nullopt;
    }
    ClusterState state;
    state.entry = std::move(*entry);
    state.members = instances_.members(id);
    state.guestOf = [this](const Instance& member) -> std::optional<GuestTarget> {
        auto host = hosts_.indexOf(member.host);
        if (member.host.empty() || host == HostRegistry::kNoHost) {
            return std::nullopt;
        }
        const auto& binding = hosts_.binding(host);
        if (binding.guestAgent == nullptr) {
            return std::nullopt;
        }
        return GuestTarget{binding.guestAgent, binding.pool, drivers::domainName(member.id)};
    };
    return state;
}

void ClusterController::memberChanged(const Instance& member) {
    queue_.schedule(member.owner->clusterId, Members | Bootstrap);
    // A node's first boot waits for the controller's address (its seed names it): once the
    // controller has one, the nodes waiting for it go on at once rather than at their next retry.
    if (model::isPrimaryRole(member.owner->role) && member.ip) {
        for (const auto& other : instances_.members(member.owner->clusterId)) {
            if (other.id != member.id && other.state == InstanceState::Creating) {
                instanceController_.schedule(other.id, InstanceJob::Converge);
            }
        }
    }
}

void ClusterController::memberGone(const model::Uuid&, const model::InstanceOwner& owner) {
    queue_.schedule(owner.clusterId, Members);
}

asio::awaitable<WorkOutcome> ClusterController::run(model::Uuid id, unsigned job) {
    switch (job) {
        case Members:
            co_return co_await reconcileMembers(id);
        case Bootstrap:
            co_return co_await bootstrap(id);
        case Poll:
            co_return co_await poll(id);
        default:
            co_return WorkOutcome::Done;
    }
}

asio::awaitable<WorkOutcome> ClusterController::reconcileMembers(model::Uuid id) {
    auto current = state(id);
    if (!current) {
        co_return WorkOutcome::Done;
    }
    const auto& cluster = current->entry.cluster;
    auto* kind = driver(cluster.kind);
    if (kind == nullptr) {
        co_return WorkOutcome::Done;
    }
    if (cluster.deleting) {
        co_return co_await finishDelete(*current);
    }
    auto plan = planMembers(cluster, kind->roles(cluster), kind->image(), current->members);
    if (!plan.create.empty()) {
        table_.updateProgress(id, [&](ClusterProgress& p) {
            p.step = "admitting " + std::to_string(plan.create.size()) + " VMs";
        });
        auto created = co_await instances_.createGroup(cluster.projectId, std::move(plan.create));
        if (!created) {
            log::warn("cluster members not admitted; retrying",
                      {{"cluster", id.str()}, {"error", created.error().message}});
            table_.updateProgress(id, [&](ClusterProgress& p) { p.problem = created.error().message; });
            co_return WorkOutcome::Retry;
        }
        queue_.schedule(id, Bootstrap);
    }
    if (plan.retire.empty()) {
        co_return WorkOutcome::Done;
    }
    std::string names;
    for (const auto& member : plan.retire) {
        names += (names.empty() ? "" : ", ") + kind->nodeName(*member.owner);
    }
    table_.updateProgress(id, [&](ClusterProgress& p) { p.step = "draining and removing " + names; });
    auto retired = co_await kind->retire(*current, plan.retire);
    if (!retired) {
        table_.updateProgress(id, [&](ClusterProgress& p) { p.problem = retired.error().message; });
        co_return WorkOutcome::Retry;
    }
    if (!*retired) {
        queue_.scheduleAfter(id, Members, options_.drainRecheck);  // still running work
        co_return WorkOutcome::Done;
    }
    std::vector<model::Uuid> ids;
    for (const auto& member : plan.retire) {
        ids.push_back(member.id);
    }
    if (auto removed = co_await instances_.deleteMembers(id, ids); !removed) {
        table_.updateProgress(id, [&](ClusterProgress& p) { p.problem = removed.error().message; });
        co_return WorkOutcome::Retry;
    }
    co_return WorkOutcome::Done;
}

asio::awaitable<WorkOutcome> ClusterController::finishDelete(const ClusterState& state) {
    const auto& id = state.entry.cluster.id;
    bool anyLive = false;
    for (const auto& member : state.members) {
        anyLive = anyLive || member.state != InstanceState::Deleting;
    }
    if (anyLive) {
        if (auto removed = co_await instances_.deleteMembers(id); !removed) {
            co_return WorkOutcome::Retry;
        }
    }
    if (!state.members.empty()) {
        co_return WorkOutcome::Done;  // each member's departure schedules this again
    }
    auto removeRow = [this, id] { return store_.deleteCluster(id); };
    auto gone = co_await storePool_.run(std::move(removeRow));
    if (!gone) {
        log::warn("cluster row not removed; retrying",
                  {{"cluster", id.str()}, {"error", gone.error().message}});
        co_return WorkOutcome::Retry;
    }
    {
        auto locked = table_.lock();
        table_.index().erase(id);
    }
    if (auto* kind = driver(state.entry.cluster.kind)) {
        kind->forget(id);
    }
    log::info("cluster deleted", {{"cluster", id.str()}, {"name", state.entry.cluster.name}});
    co_return WorkOutcome::Done;
}

asio::awaitable<WorkOutcome> ClusterController::bootstrap(model::Uuid id) {
    auto current = state(id);
    if (!current || current->entry.cluster.deleting) {
        co_return WorkOutcome::Done;
    }
    auto* kind = driver(current->entry.cluster.kind);
    if (kind == nullptr) {
        co_return WorkOutcome::Done;
    }
    auto outcome = co_await kind->bootstrap(*current);
    if (outcome.kindState) {
        // Durable before the next step relies on it (a join token, the upgrade roll's place).
        auto save = [this, id, text = *outcome.kindState] { return store_.updateClusterKindState(id, text); };
        if (auto saved = co_await storePool_.run(std::move(save)); !saved) {
            log::warn("cluster progress not stored; retrying",
                      {{"cluster", id.str()}, {"error", saved.error().message}});
            co_return WorkOutcome::Retry;
        }
        auto locked = table_.lock();
        if (auto* entry = table_.index().find(id)) {
            entry->kindState = *outcome.kindState;
        }
    }
    table_.updateProgress(id, [&](ClusterProgress& p) {
        p.step = outcome.step;
        p.problem = outcome.problem;
        p.failed = outcome.failed;
        if (outcome.usersOn) {
            p.usersOn = std::move(*outcome.usersOn);
        }
    });
    if (!outcome.problem.empty()) {
        log::warn("cluster step failed",
                  {{"cluster", id.str()}, {"step", outcome.step}, {"error", outcome.problem}});
    }
    if (outcome.observeSoon) {
        queue_.schedule(id, Poll);  // runs once this job ends: one job at a time per cluster
    }
    if (outcome.recheck) {
        queue_.scheduleAfter(id, Bootstrap, options_.bootRecheck);
    } else if (outcome.recheckAfter) {
        queue_.scheduleAfter(id, Bootstrap, *outcome.recheckAfter);
    }
    co_return outcome.retrySoon ? WorkOutcome::Retry : WorkOutcome::Done;
}

asio::awaitable<WorkOutcome> ClusterController::poll(model::Uuid id) {
    auto current = state(id);
    if (!current || current->entry.cluster.deleting) {
        co_return WorkOutcome::Done;  // no more polls: a deleting cluster is reported from its VMs
    }
    auto* kind = driver(current->entry.cluster.kind);
    if (kind != nullptr) {
        auto report = co_await kind->observe(*current);
        if (report) {
            report->at = std::chrono::steady_clock::now();
            table_.updateProgress(id, [&](ClusterProgress& p) { p.report = std::move(*report); });
            // Once every node was usable, later changes of size are SCALING, not PROVISIONING.
            if (auto fresh = state(id); fresh && allNodesReady(*fresh, *kind)) {
                table_.updateProgress(id, [](ClusterProgress& p) { p.everReady = true; });
            }
        } else if (report.error().code != ErrorCode::Unavailable) {
            log::warn("cluster nodes not read", {{"cluster", id.str()}, {"error", report.error().message}});
        }
    }
    queue_.scheduleAfter(id, Poll, options_.observeInterval);
    co_return WorkOutcome::Done;
}

}  // namespace gpuhost::agent

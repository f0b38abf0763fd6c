#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <map>
#include <vector>

#include "blocking_pool.hpp"
#include "keyed_work_queue.hpp"
#include "services/cluster_kind.hpp"
#include "services/cluster_options.hpp"
#include "services/cluster_table.hpp"
#include "services/host_registry.hpp"
#include "services/instance_controller.hpp"
#include "services/instance_service.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// Kinds of work on one cluster, in the order they run when several are pending.
enum ClusterJob : unsigned {
    Members = 1,    // make the members match the spec (create, retire, delete; the cluster row last)
    Bootstrap = 2,  // the kind's in-guest steps (configure the controller, apply users)
    Poll = 4,       // ask the scheduler about its nodes; repeats while the cluster lives
};

/// Drives every cluster towards its spec on one keyed work queue (one job at a time per
/// cluster; transient failures retried with backoff). It hears of its members' changes
/// from the instance controller (MemberObserver) and reacts on the cluster's key.
class ClusterController final : public MemberObserver {
  public:
    ClusterController(boost::asio::any_io_executor executor, ClusterTable& table, InstanceService& instances,
                      InstanceController& instanceController, const HostRegistry& hosts, ClusterStore& store,
                      BlockingPool& storePool, std::vector<ClusterKindDriver*> kinds,
                      const ClusterOptions& options, RetryPolicy retry = {});

    void schedule(const model::Uuid& id, unsigned jobs) { queue_.schedule(id, jobs); }
    /// Every known cluster gets each job once (after a restart: every step is checked again).
    void start();
    void stop();
    bool busy(const model::Uuid& id) const { return queue_.busy(id); }

    ClusterKindDriver* driver(model::ClusterKind kind) const;
    /// The cluster with its members and a way into their guests; nullopt when gone.
    std::optional<ClusterState> state(const model::Uuid& id) const;

    void memberChanged(const model::Instance& member) override;
    void memberGone(const model::Uuid& member, const model::InstanceOwner& owner) override;

  private:
    boost::asio::awaitable<WorkOutcome> run(model::Uuid id, unsigned job);
    boost::asio::awaitable<WorkOutcome> reconcileMembers(model::Uuid id);
    boost::asio::awaitable<WorkOutcome> finishDelete(const ClusterState& state);
    boost::asio::awaitable<WorkOutcome> bootstrap(model::Uuid id);
    boost::asio::awaitable<WorkOutcome> poll(model::Uuid id);

    boost::asio::any_io_executor executor_;
    ClusterTable& table_;
    InstanceService& instances_;
    InstanceController& instanceController_;
    const HostRegistry& hosts_;
    ClusterStore& store_;
    BlockingPool& storePool_;
    std::vector<ClusterKindDriver*> kinds_;
    const ClusterOptions& options_;
    KeyedWorkQueue<model::Uuid> queue_;
};

}  // namespace gpuhost::agent

#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <vector>

#include "keyed_work_queue.hpp"
#include "services/catalog.hpp"
#include "services/host_registry.hpp"
#include "services/instance_provisioner.hpp"
#include "services/instance_table.hpp"

namespace gpuhost::agent {

/// Kinds of work on one instance, in the order they run when several are pending.
enum InstanceJob : unsigned {
    Converge = 1,  // drive a transitional state to its steady one
    Observe = 2,   // adopt what libvirt shows for a steady state
    Address = 4,   // ask for the guest's address
};

/// Told when an owned instance (a cluster member) changes state or goes away; called on
/// an I/O thread, outside every lock: hand the news over and return.
class MemberObserver {
  public:
    virtual ~MemberObserver() = default;
    virtual void memberChanged(const model::Instance& member) = 0;
    virtual void memberGone(const model::Uuid& member, const model::InstanceOwner& owner) = 0;
};

/// Drives every instance towards its stored state: one keyed work queue (one job at a
/// time per instance, libvirt's domain job rule; transient failures retried with
/// backoff), converge through the provisioner, observe and address through the host.
class InstanceController {
  public:
    InstanceController(boost::asio::any_io_executor executor, InstanceTable& table, const HostRegistry& hosts,
                       const Catalog& catalog, InstanceProvisioner& provisioner, RetryPolicy retry = {});

    void schedule(const model::Uuid& id, InstanceJob job) { queue_.schedule(id, job); }
    void stop();
    bool stopping() const { return queue_.stopping(); }
    /// Whether the instance has a job pending or running.
    bool busy(const model::Uuid& id) const { return queue_.busy(id); }

    void addObserver(MemberObserver& observer);
    /// After it, no new notice is posted to `observer` (ones already posted still run).
    void removeObserver(MemberObserver& observer);
    /// Tells the observers about a change of `instance` (when it has an owner).
    void notify(const model::Instance& instance);
    void notifyGone(const model::Uuid& id, const model::InstanceOwner& owner);

  private:
    boost::asio::awaitable<WorkOutcome> run(model::Uuid id, unsigned job);
    boost::asio::awaitable<WorkOutcome> converge(model::Uuid id);
    boost::asio::awaitable<WorkOutcome> observe(model::Uuid id);
    boost::asio::awaitable<WorkOutcome> refreshAddress(model::Uuid id);
    boost::asio::awaitable<bool> record(const model::Uuid& id, model::InstanceState from,
                                        model::InstanceState to, std::optional<std::string> ip,
                                        std::string reason,
                                        std::optional<std::vector<model::PciAddress>> gpus = std::nullopt);

    boost::asio::any_io_executor executor_;
    InstanceTable& table_;
    const HostRegistry& hosts_;
    const Catalog& catalog_;
    InstanceProvisioner& provisioner_;
    KeyedWorkQueue<model::Uuid> queue_;
    std::mutex observersMutex_;
    std::vector<MemberObserver*> observers_;
};

}  // namespace gpuhost::agent

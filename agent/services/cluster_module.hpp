#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <vector>

#include "blocking_pool.hpp"
#include "services/cluster_controller.hpp"
#include "services/cluster_kind.hpp"
#include "services/cluster_options.hpp"
#include "services/cluster_service.hpp"
#include "services/cluster_table.hpp"
#include "services/instance_module.hpp"
#include "services/seed_contributors.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// A cluster member's first-boot part, from its cluster's kind.
class ClusterBootstrapContributor final : public SeedContributor {
  public:
    explicit ClusterBootstrapContributor(const ClusterController& controller) : controller_(controller) {}
    model::Result<std::optional<cloudinit::Part>> partFor(const model::Instance& instance) const override;

  private:
    const ClusterController& controller_;
};

/// The cluster machinery put together on top of the instance machinery, for gpuhostd's main
/// and for tests: the table, the controller (one keyed work queue), the service the API
/// uses, and the seed contributor. Kinds are passed in (Slurm, later Kubernetes).
class ClusterModule {
  public:
    ClusterModule(ClusterStore& store, BlockingPool& storePool, const Catalog& catalog,
                  InstanceModule& instances, std::vector<ClusterKindDriver*> kinds,
                  boost::asio::any_io_executor executor, ClusterOptions options, RetryPolicy retry = {});
    /// Detaches from the instance machinery (seed part, member news). Stop it first.
    ~ClusterModule();
    ClusterModule(const ClusterModule&) = delete;
    ClusterModule& operator=(const ClusterModule&) = delete;

    /// Loads the clusters and their secrets. Blocking: call before serving (and before the
    /// instance machinery starts, whose members' seeds need them).
    model::Result<void> loadBlocking();
    void start();
    void stop();

    ClusterApi& api() { return service_; }
    ClusterService& service() { return service_; }
    ClusterController& controller() { return controller_; }

  private:
    ClusterStore& store_;
    InstanceModule& instances_;
    ClusterOptions options_;
    ClusterTable table_;
    ClusterController controller_;
    ClusterService service_;
    ClusterBootstrapContributor contributor_;
};

}  // namespace gpuhost::agent

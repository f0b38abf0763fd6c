#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <vector>

#include "blocking_pool.hpp"
#include "services/catalog.hpp"
#include "services/host_registry.hpp"
#include "services/image_cache.hpp"
#include "services/instance_controller.hpp"
#include "services/instance_options.hpp"
#include "services/instance_provisioner.hpp"
#include "services/instance_reconciler.hpp"
#include "services/instance_service.hpp"
#include "services/instance_table.hpp"
#include "services/seed_contributors.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// The instance machinery put together, for gpuhostd's main and for tests: the host
/// registry, the in-memory table, the image cache, the provisioner, the controller (one
/// keyed work queue), the per-host reconcilers and the admission service. It only builds
/// the parts and runs their lifecycle; each part owns one concern. Clusters ride on the
/// service (group admission), the controller (member notifications) and the hosts.
class InstanceModule {
  public:
    /// Hosts without a pool of their own use `hostPool`.
    InstanceModule(InstanceStore& store, AgentMetadataStore& metadata, const Catalog& catalog,
                   BlockingPool& storePool, BlockingPool& hostPool, std::vector<HostBinding> hosts,
                   boost::asio::any_io_executor executor, InstanceOptions options, RetryPolicy retry = {});

    /// Loads this agent's id and the instances, and reads each host once. Blocking: call
    /// before serving.
    model::Result<void> loadBlocking();
    /// Where filesystems are looked up (null: none exist). Set before serving.
    void setFilesystems(const FilesystemDirectory* filesystems);
    /// A cluster machinery's bootstrap parts and member news (before start()), and their removal.
    void addSeedContributor(const SeedContributor* contributor) { provisioner_.addContributor(contributor); }
    void removeSeedContributor(const SeedContributor* contributor) {
        provisioner_.removeContributor(contributor);
    }
    void addMemberObserver(MemberObserver& observer) { controller_.addObserver(observer); }
    void removeMemberObserver(MemberObserver& observer) { controller_.removeObserver(observer); }
    /// Subscribes to libvirt events and starts each host's reconcile loop.
    void start();
    /// Jobs stop at their next step (the store keeps the transitional state; the next start
    /// finishes it); timers are cancelled.
    void stop();

    InstanceService& service() { return service_; }
    const InstanceService& service() const { return service_; }
    HostRegistry& hosts() { return hosts_; }
    InstanceController& controller() { return controller_; }
    const model::Uuid& agentId() const { return provisioner_.agentId(); }

  private:
    static std::vector<HostBinding> withPools(std::vector<HostBinding> hosts, BlockingPool& fallback);

    InstanceStore& store_;
    AgentMetadataStore& metadata_;
    InstanceOptions options_;
    HostRegistry hosts_;
    InstanceTable table_;
    ImageCache images_;
    FilesystemMountContributor mounts_{nullptr};
    InstanceProvisioner provisioner_;
    InstanceController controller_;
    InstanceReconciler reconciler_;
    InstanceService service_;
};

}  // namespace gpuhost::agent

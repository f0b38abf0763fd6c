#pragma once

#include <boost/asio/awaitable.hpp>
#include <vector>

#include "blocking_pool.hpp"
#include "metrics.hpp"
#include "model/instance.hpp"
#include "services/catalog.hpp"
#include "services/filesystem_service.hpp"
#include "services/host_registry.hpp"
#include "services/instance_controller.hpp"
#include "services/instance_options.hpp"
#include "services/instance_table.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// One member of a group admitted together (a cluster's machines).
struct MemberRequest {
    model::CreateInstance request;  // its name derives from the owner (the cluster picks it)
    model::InstanceOwner owner;
};

/// Instances as the API and the cluster machinery ask for them: admission (validation,
/// capacity, durable desired state) answers at once; the controller then drives libvirt.
///
/// GPU types take whole GPUs, recorded in the store with the instance (one owner per
/// GPU); placement across hosts and GPU choice follow model/placement.hpp. A GPU is held
/// from admission until the instance is stopped (released when the domain is off) or
/// deleted; a non-preemptible GPU instance that fits nowhere stops the fewest preemptible
/// ones, whose GPUs pass to it at once and are attached once their domains are off.
/// Cluster members are admitted as a group (all placed and stored, or none), and only
/// their cluster may stop, start or delete them.
class InstanceService {
  public:
    InstanceService(InstanceTable& table, HostRegistry& hosts, const Catalog& catalog, InstanceStore& store,
                    BlockingPool& storePool, InstanceController& controller, const InstanceOptions& options);

    /// Where filesystems are looked up (null: none exist). Set before serving.
    void setFilesystems(const FilesystemDirectory* filesystems) { filesystems_ = filesystems; }

    boost::asio::awaitable<model::Result<model::Instance>> create(const model::Uuid& project,
                                                                  model::CreateInstance request);
    /// NotFound when absent or in another project (never reveal that it exists).
    model::Result<model::Instance> get(const model::Uuid& project, const model::Uuid& id) const;
    /// The project's instances, out-of-stock ones, cluster members and those being made included.
    std::size_t instanceCount(const model::Uuid& project) const;
    std::vector<model::Instance> list(const model::Uuid& project) const;
    /// list() answers the same while both of these do: the table's generation (read it
    /// first) and what is known of the hosts' troubles (shown as instances in error).
    std::uint64_t generation() const { return table_.generation(); }
    std::string troubleStamp() const;
    /// start, stop or delete: the instance in its new (transitional) state, or 409 (also
    /// for a cluster's member, naming its cluster).
    boost::asio::awaitable<model::Result<model::Instance>> act(const model::Uuid& project,
                                                               const model::Uuid& id,
                                                               model::InstanceAction action);

    /// Places every member in one pass and stores them in one transaction: all of them,
    /// or (when the group does not fit as a whole) every member out-of-stock with the
    /// reason and no GPU held. Errors (a taken name, a gone project) store nothing.
    boost::asio::awaitable<model::Result<std::vector<model::Instance>>> createGroup(
        const model::Uuid& project, std::vector<MemberRequest> members);
    /// Moves the given members of `cluster` (all of them when `ids` is empty) to deleting
    /// in one transaction; members already deleting stay so.
    boost::asio::awaitable<model::Result<void>> deleteMembers(const model::Uuid& cluster,
                                                              std::vector<model::Uuid> ids = {});
    /// The cluster's members as shown (host trouble included), oldest first.
    std::vector<model::Instance> members(const model::Uuid& cluster) const;

    /// Every configured type with how many more fit; Unavailable before any host's
    /// resources are known.
    model::Result<std::vector<TypeCapacity>> capacity() const;
    std::vector<ResourceCount> countByState() const;

  private:
    /// QuotaExceeded when `adding` more instances would pass the project's or the region's limit.
    model::Result<void> instanceRoomLocked(const model::Uuid& project, std::size_t adding) const;
    model::Result<void> checkAgainstCatalog(const model::CreateInstance& request) const;
    /// The host every filesystem of the request lives on (kNoHost: none asked), or why not.
    model::Result<std::size_t> filesystemHost(const model::Uuid& project,
                                              const std::vector<model::Uuid>& ids) const;
    boost::asio::awaitable<void> learnHosts();
    /// With host trouble shown; `troubles` is HostRegistry::troubles(), read once per answer.
    model::Instance visible(const model::Instance& instance,
                            const std::vector<std::optional<std::string>>& troubles) const;
    std::vector<InstanceUpdate> evictLocked(const std::vector<model::Uuid>& victims, const model::Uuid& by);
    void settleEvictions(const std::vector<model::Uuid>& victims, const model::Uuid& by, bool stored);
    /// With the table locked: a fresh id whose MAC no other instance has.
    model::Uuid freshIdLocked() const;

    InstanceTable& table_;
    HostRegistry& hosts_;
    const Catalog& catalog_;
    InstanceStore& store_;
    BlockingPool& storePool_;
    InstanceController& controller_;
    const InstanceOptions& options_;
    const FilesystemDirectory* filesystems_ = nullptr;
};

}  // namespace gpuhost::agent

#pragma once

#include <vector>

#include "model/cluster.hpp"
#include "model/error.hpp"
#include "model/filesystem.hpp"
#include "model/instance.hpp"
#include "model/project.hpp"

namespace gpuhost::agent {

/// Durable desired state. Every mutation is committed (and fsynced) before it
/// returns, so whatever the API acknowledged survives kill -9. Implementations
/// block: call them through BlockingPool, never on an I/O thread.
class ProjectStore {
  public:
    virtual ~ProjectStore() = default;

    /// All projects, in creation order.
    virtual model::Result<std::vector<model::Project>> loadProjects() = 0;

    /// Conflict when the name is taken.
    virtual model::Result<void> insertProject(const model::Project& project) = 0;

    /// Removes the project in one transaction with the check that it owns no
    /// resources: NotFound if absent, Conflict if it still owns something.
    virtual model::Result<void> deleteProjectIfEmpty(const model::Uuid& id) = 0;
};

/// A state change of one instance; with `gpus`, the GPUs it holds from now on.
struct InstanceUpdate {
    model::Uuid id;
    model::InstanceState state{};
    std::optional<std::string> ip;
    std::string reason;
    std::optional<std::vector<model::PciAddress>> gpus;  // nullopt: unchanged
};

/// Durable instances. Same rules as ProjectStore: committed before returning, blocking.
/// GPU allocations are rows keyed by (host, PCI address): the store itself refuses to
/// give one GPU to two instances.
class InstanceStore {
  public:
    virtual ~InstanceStore() = default;

    /// All instances, in creation order.
    virtual model::Result<std::vector<model::Instance>> loadInstances() = 0;

    /// Inserts the instances with their GPUs and filesystem references, after applying
    /// `first` (instances that give up GPUs for them: preemption), all in one transaction:
    /// all or none (a cluster's members are admitted as a group). NotFound when the project
    /// is gone or a filesystem is not available in it; Conflict when a name is taken. Names
    /// are unique per project among user instances, and per cluster among its members.
    virtual model::Result<void> insertInstances(const std::vector<model::Instance>& instances,
                                                const std::vector<InstanceUpdate>& first = {}) = 0;

    model::Result<void> insertInstance(const model::Instance& instance,
                                       const std::vector<InstanceUpdate>& first = {}) {
        return insertInstances({instance}, first);
    }

    /// Records observed or driven-to states (with the guest address, the reason for an
    /// unrequested state, and GPUs taken or released), all or none. NotFound when an
    /// instance is gone.
    virtual model::Result<void> updateInstances(const std::vector<InstanceUpdate>& updates) = 0;

    model::Result<void> updateInstanceState(const model::Uuid& id, model::InstanceState state,
                                            const std::optional<std::string>& ip, const std::string& reason) {
        return updateInstances({InstanceUpdate{id, state, ip, reason, std::nullopt}});
    }

    /// Deleting an instance that is already gone is not an error.
    virtual model::Result<void> deleteInstance(const model::Uuid& id) = 0;
};

/// The agent's own facts, not any resource's. Same rules: committed, blocking.
class AgentMetadataStore {
  public:
    virtual ~AgentMetadataStore() = default;

    /// This installation's id, created on first use: domains carry it, so two agents
    /// sharing one libvirt never take each other's domains for orphans.
    virtual model::Result<model::Uuid> agentId() = 0;

    /// Whether the import of a base-image volume finished on a host; `mark` is
    /// "<host>/<volume>" (see ImageCache), so a half-imported volume on one host never
    /// passes for complete on another.
    virtual model::Result<bool> imageImported(const std::string& mark) = 0;
    /// Records that the upload of the volume completed, so a volume left half-written by a
    /// crash is recognised and imported again.
    virtual model::Result<void> markImageImported(const std::string& mark) = 0;
    /// Forgets a mark (its volume was swept).
    virtual model::Result<void> forgetImageImported(const std::string& mark) = 0;
};

/// Durable filesystems. Same rules: committed before returning, blocking. Instances
/// reference filesystems in the store (insertInstance records them), so a filesystem in
/// use can never be deleted and a deleting one never attached, whatever the timing.
class FilesystemStore {
  public:
    virtual ~FilesystemStore() = default;
    virtual model::Result<std::vector<model::Filesystem>> loadFilesystems() = 0;
    /// NotFound when the project is gone; Conflict when the name is taken in the project.
    virtual model::Result<void> insertFilesystem(const model::Filesystem& filesystem) = 0;
    /// Ends creation (available or error); NotFound when it is no longer creating.
    virtual model::Result<void> updateFilesystemState(const model::Uuid& id, model::FilesystemState state,
                                                      const std::string& reason) = 0;
    /// Moves it to `deleting` in one transaction with the check that no instance uses it:
    /// Conflict when one does, NotFound when it is gone.
    virtual model::Result<void> beginFilesystemDelete(const model::Uuid& id) = 0;
    virtual model::Result<void> deleteFilesystem(const model::Uuid& id) = 0;
};

/// Durable clusters: the spec (pools, counts, users) and the secret the agent made for it
/// (Slurm: the munge key), never shown by the API. Same rules: committed before returning,
/// blocking. Members are ordinary instances with an owner (InstanceStore); a cluster row
/// goes only when its members are gone.
class ClusterStore {
  public:
    virtual ~ClusterStore() = default;
    /// All clusters with their pools and users, in creation order.
    virtual model::Result<std::vector<model::Cluster>> loadClusters() = 0;
    /// NotFound when the project is gone; Conflict when the project has a cluster of that
    /// kind with that name.
    virtual model::Result<void> insertCluster(const model::Cluster& cluster, const std::string& secret,
                                              const std::string& kindState = {}) = 0;
    /// The secret stored with the cluster; NotFound when the cluster is gone.
    virtual model::Result<std::string> clusterSecret(const model::Uuid& id) = 0;
    /// The kind's durable progress; NotFound when the cluster is gone.
    virtual model::Result<std::string> clusterKindState(const model::Uuid& id) = 0;
    virtual model::Result<void> updateClusterKindState(const model::Uuid& id, const std::string& kindState) = 0;
    /// Replaces the stored spec (pools, users, deleting) in one transaction; NotFound when gone.
    virtual model::Result<void> updateCluster(const model::Cluster& cluster) = 0;
    /// Removes the cluster with its secret, pools and users; gone already is not an error.
    virtual model::Result<void> deleteCluster(const model::Uuid& id) = 0;
};

}  // namespace gpuhost::agent

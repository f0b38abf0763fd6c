#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "blocking_pool.hpp"
#include "config.hpp"
#include "domain_spec.hpp"
#include "hypervisor.hpp"
#include "model/instance_type.hpp"
#include "model/placement.hpp"
#include "seed_writer.hpp"
#include "storage.hpp"

namespace gpuhost::drivers {
class GuestAgent;  // drivers/guest_agent.hpp
}  // namespace gpuhost::drivers

namespace gpuhost::agent {

/// One hypervisor host the agent drives: its name (stored with each instance) and its
/// drivers, which must outlive the services. Blocking calls for the host go to its own
/// pool, so a frozen libvirtd stalls its own host only.
struct HostBinding {
    std::string name;
    drivers::Hypervisor* hypervisor = nullptr;
    drivers::Storage* storage = nullptr;
    drivers::SeedWriter* seeds = nullptr;
    drivers::GuestAgent* guestAgent = nullptr;  // null: no in-guest commands on this host
    BlockingPool* pool = nullptr;
};

/// How hosts are used (from the config).
struct HostOptions {
    std::string network = "default";
    std::string bridge;
    Capacity capacity;                // applies to every host
    std::uint64_t hugepageBytes = 0;  // hugepages backing GPU instances' memory (0: none)
};

/// How many more instances of one type fit now, on all hosts together.
struct TypeCapacity {
    std::string type;
    std::uint64_t capacity = 0;
};

/// A running preemptible instance: what stopping it would free (see admit()).
struct PreemptibleHolding {
    std::size_t host = 0;
    double cpus = 0;
    double memoryBytes = 0;
    std::vector<model::PciAddress> gpus;
};

/// Where an admitted instance goes.
struct Admission {
    std::size_t host = 0;
    std::vector<model::PciAddress> gpus;
    std::vector<std::size_t> victims;  // indices into the candidates given to admit()
};

/// The hosts and what they have: resources and GPU inventory as last read, reachability,
/// and placement over them (the pure policy of model/placement.hpp). What instances hold
/// is given by the caller (built under its own lock); this class locks only its own state,
/// so callers may hold theirs while they ask.
class HostRegistry {
  public:
    static constexpr std::size_t kNoHost = static_cast<std::size_t>(-1);
    static constexpr std::chrono::seconds kHung{30};

    HostRegistry(std::vector<HostBinding> hosts, HostOptions options);

    std::size_t size() const { return hosts_.size(); }
    std::size_t indexOf(std::string_view name) const;
    /// Fixed at construction: safe to read without the lock.
    const HostBinding& binding(std::size_t host) const { return hosts_[host].binding; }
    const HostOptions& options() const { return options_; }

    /// Reads a host's resources and GPU inventory (blocking: on the host's pool) and makes
    /// sure its network runs.
    model::Result<void> refreshBlocking(std::size_t host);
    void markUnreachable(std::size_t host, std::string problem);
    bool anyKnown() const;
    bool anyUsable() const;
    std::size_t reachableCount() const;
    /// Why each host cannot be used now (nullopt: it can), in one lock: unreachable, or not
    /// answering (a refresh has waited on libvirt for longer than kHung; new instances go elsewhere).
    std::vector<std::optional<std::string>> troubles() const;

    /// Where an instance of `type` fits (`onlyHost`: where its disk or filesystems are)
    /// given what `holdings` hold; a non-preemptible GPU type that fits nowhere may stop
    /// some of `candidates`. nullopt when it fits nowhere.
    std::optional<Admission> admit(const model::InstanceType& type, bool preemptible, std::size_t onlyHost,
                                   const std::vector<model::Holding>& holdings,
                                   const std::vector<PreemptibleHolding>& candidates) const;
    /// Places every type of `members` in one pass, each seeing the ones placed before it:
    /// all of them, or nullopt (a group never preempts).
    std::optional<std::vector<Admission>> admitGroup(const std::vector<const model::InstanceType*>& members,
                                                     const std::vector<model::Holding>& holdings) const;
    /// Why `type` does not fit, for the out-of-stock reason.
    std::string shortage(const model::InstanceType& type, std::size_t onlyHost,
                         const std::vector<model::Holding>& holdings) const;
    /// How many more of each type fit; Unavailable before any host's resources are known.
    model::Result<std::vector<TypeCapacity>> capacity(const std::vector<model::InstanceType>& types,
                                                      const std::vector<model::Holding>& holdings) const;
    /// Host devices, PCI hole and NUMA placement for `gpus` on `host`.
    model::Result<void> placeGpus(const std::string& host, const std::vector<model::PciAddress>& gpus,
                                  drivers::DomainSpec& spec) const;

  private:
    struct HostState {
        HostBinding binding;
        std::optional<drivers::HostResources> resources;
        model::GpuInventory inventory;
        std::vector<model::ModelMask> models;  // modelMasks(inventory.gpus)
        bool reachable = false;
        std::string problem;         // why it is unreachable
        std::string networkProblem;  // last warning about the network: said once, not each refresh
        bool answersSlowly = false;  // the last refresh took seconds: warned once, until it recovers
        std::optional<std::chrono::steady_clock::time_point> askedSince;  // a refresh in flight
    };
    /// A refresh in flight for longer than kHung: libvirtd is hung (or the host is cut off).
    std::optional<std::string> hungLocked(const HostState& host) const;
    std::vector<model::HostView> viewsLocked(const std::vector<model::Holding>& holdings) const;
    std::vector<model::PciAddress> addressesLocked(const model::Placement& placement) const;

    HostOptions options_;
    mutable std::shared_mutex mutex_;
    std::vector<HostState> hosts_;                                // fixed size; fields guarded by mutex_
    std::map<std::string, std::size_t, std::less<>> hostByName_;  // fixed at construction
};

model::PlacementRequest placementRequest(const model::InstanceType& type);

}  // namespace gpuhost::agent

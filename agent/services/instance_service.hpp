#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "blocking_pool.hpp"
#include "hypervisor.hpp"
#include "metrics.hpp"
#include "model/instance.hpp"
#include "model/placement.hpp"
#include "model/principal.hpp"
#include "seed.hpp"
#include "services/catalog.hpp"
#include "services/filesystem_service.hpp"
#include "storage.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// How instances become domains on this host (from the config).
struct InstanceOptions {
    std::filesystem::path scratchDir;     // seed ISOs are built here, then uploaded
    std::filesystem::path consoleLogDir;  // serial console logs, one per instance
    std::string network = "default";
    std::string bridge;
    drivers::Accelerator accelerator = drivers::Accelerator::Kvm;
    unsigned tcgCacheMiB = 0;
    std::chrono::milliseconds shutdownTimeout{60000};
    std::chrono::milliseconds resyncInterval{30000};
    std::size_t userDataLimit = 64 << 10;
    Capacity capacity;                // applies to every host
    std::uint64_t hugepageBytes = 0;  // hugepages backing GPU instances' memory (0: none)
    std::string virtiofsd = "/usr/lib/qemu/virtiofsd";
};

/// One hypervisor host the service drives: its name (stored with each instance) and its
/// drivers. The drivers must outlive the service.
struct HostBinding {
    std::string name;
    drivers::Hypervisor* hypervisor = nullptr;
    drivers::Storage* storage = nullptr;
};

/// How many more instances of one type fit now, on all hosts together.
struct TypeCapacity {
    std::string type;
    std::uint64_t capacity = 0;
};

/// Instances: admission (validation, capacity, durable desired state) answers the API
/// at once; jobs then drive libvirt. One job at a time per instance (libvirt's domain
/// job rule): every instance has a queue drained by one coroutine on its own strand.
/// Jobs are idempotent "converge towards the stored state" steps, so a job cut short
/// by a crash is simply run again by the reconciler after restart.
///
/// GPU types take whole GPUs, recorded in the store with the instance (one owner per
/// GPU); placement across hosts and GPU choice follow model/placement.hpp. A GPU is
/// held from admission until the instance is stopped (released when the domain is
/// off) or deleted; a non-preemptible GPU instance that fits nowhere stops the fewest
/// preemptible ones, whose GPUs pass to it at once and are attached once their
/// domains are off.
class InstanceService final {
  public:
    /// `storePool` runs store calls, `hostPool` libvirt and process calls: a hung
    /// libvirtd can hold every host thread, and must not keep admissions from the store.
    InstanceService(InstanceStore& store, const Catalog& catalog, BlockingPool& storePool,
                    BlockingPool& hostPool, std::vector<HostBinding> hosts,
                    boost::asio::any_io_executor executor, InstanceOptions options);
    ~InstanceService();

    /// Where filesystems are looked up (null: none exist). Set before serving.
    void setFilesystems(const FilesystemDirectory* filesystems) { filesystems_ = filesystems; }

    /// Loads instances and this agent's id from the store. Blocking: call before serving.
    model::Result<void> loadBlocking();
    /// Subscribes to libvirt events and starts the reconcile loop (first pass at once).
    void start();
    /// Stops taking new steps: jobs stop at their next step (the store keeps the
    /// transitional state; the next start finishes it), timers are cancelled.
    void stop();

    boost::asio::awaitable<model::Result<model::Instance>> create(const model::Uuid& project,
                                                                  model::CreateInstance request);
    /// NotFound when absent or in another project (never reveal that it exists).
    model::Result<model::Instance> get(const model::Uuid& project, const model::Uuid& id) const;
    std::vector<model::Instance> list(const model::Uuid& project) const;
    /// start, stop or delete: the instance in its new (transitional) state, or 409.
    boost::asio::awaitable<model::Result<model::Instance>> act(const model::Uuid& project,
                                                               const model::Uuid& id,
                                                               model::InstanceAction action);

    /// Every configured type with how many more fit; Unavailable before any host's
    /// resources are known.
    model::Result<std::vector<TypeCapacity>> capacity() const;
    std::vector<ResourceCount> countByState() const;

    /// One reconcile pass: false when libvirt could not be asked.
    boost::asio::awaitable<bool> reconcile();

  private:
    enum class Job { Converge, Observe, Address };
    struct Entry {
        model::Instance instance;
        bool admitting = false;  // a request is making a change durable; answer 409 meanwhile
        bool inserting = false;  // the create is not durable yet: invisible to readers
        model::InstanceState pending{};
        std::optional<std::vector<model::PciAddress>> pendingGpus;  // with `admitting`: GPUs held after it
        bool running = false;                                       // a job runner is draining the queue
        bool converge = false, observe = false, address = false;
        unsigned addressTries = 0;
        std::uint64_t order = 0;  // creation order, for listing
    };

    /// Forwards one host's libvirt events to the service, saying which host.
    class HostEvents final : public drivers::HypervisorEvents {
      public:
        HostEvents(InstanceService& service, std::size_t host) : service_(service), host_(host) {}
        void domainChanged(const model::Uuid& instanceId) override { service_.domainChanged(instanceId); }
        void connectionLost() override { service_.connectionLost(host_); }
        void devicesChanged() override { service_.devicesChanged(host_); }

      private:
        InstanceService& service_;
        std::size_t host_;
    };
    /// A host's live view: guarded by mutex_.
    struct HostState {
        HostBinding binding;
        std::optional<drivers::HostResources> resources;
        model::GpuInventory inventory;
        std::vector<model::ModelMask> models;  // modelMasks(inventory.gpus)
        bool reachable = false;
        std::string problem;         // why it is unreachable
        std::string networkProblem;  // last warning about options_.network: said once, not each refresh
        bool answersSlowly = false;  // the last refresh took seconds: warned once, until it recovers
    };
    static constexpr std::size_t kNoHost = static_cast<std::size_t>(-1);

    // Scheduling (instance_service.cpp)
    void schedule(const model::Uuid& id, Job job);
    boost::asio::awaitable<void> runJobs(model::Uuid id);
    std::optional<model::Instance> snapshot(const model::Uuid& id) const;
    model::Instance visible(const model::Instance& instance) const;  // with host trouble shown
    bool macInUseLocked(const std::string& mac) const;
    model::Result<void> checkAgainstCatalog(const model::CreateInstance& request) const;

    // Hosts, placement and capacity (instance_placement.cpp)
    std::size_t hostIndex(std::string_view name) const;
    bool anyHostKnown() const;
    /// Reads a host's resources and GPU inventory (blocking) and stores them.
    model::Result<void> refreshHostBlocking(std::size_t host);
    std::vector<model::HostView> viewsLocked(const model::Uuid* except = nullptr) const;
    std::vector<model::PreemptionCandidate> candidatesLocked(const std::vector<model::HostView>& views,
                                                             std::vector<model::Uuid>& keys) const;
    struct Admission {
        std::size_t host = kNoHost;
        std::vector<model::PciAddress> gpus;
        std::vector<model::Uuid> victims;
    };
    /// Where an instance of `type` goes (`onlyHost`: its disk lives there), preempting
    /// if it may; nullopt when it fits nowhere.
    std::optional<Admission> admitLocked(const model::InstanceType& type, bool preemptible,
                                         std::size_t onlyHost, const model::Uuid* self) const;
    std::vector<InstanceUpdate> evictLocked(const Admission& admission, const model::Uuid& by);
    void settleEvictions(const std::vector<model::Uuid>& victims, const model::Uuid& by, bool stored);
    void watchHosts();
    std::string shortageLocked(const model::InstanceType& type, std::size_t onlyHost) const;

    // Jobs (instance_jobs.cpp)
    boost::asio::awaitable<void> converge(model::Uuid id);
    boost::asio::awaitable<model::Result<void>> provision(const model::Instance& instance, bool freshRoot);
    boost::asio::awaitable<model::Result<void>> powerOff(const model::Instance& instance);
    boost::asio::awaitable<model::Result<void>> teardown(const model::Instance& instance);
    model::Result<drivers::Volume> baseVolumeBlocking(const std::string& host, const ImageConfig& image);
    model::Result<std::string> writeSeedBlocking(const model::Instance& instance,
                                                 const std::vector<cloudinit::Mount>& mounts);
    /// The host every filesystem of the request lives on (kNoHost: none asked), or why not.
    model::Result<std::size_t> filesystemHost(const model::Uuid& project,
                                              const std::vector<model::Uuid>& ids) const;
    drivers::DomainSpec domainSpec(const model::Instance& instance, const model::InstanceType& type,
                                   const ImageConfig& image, const std::string& root,
                                   const std::string& seed) const;
    /// Host devices, PCI hole and NUMA placement for the instance's GPUs.
    model::Result<void> placeGpusLocked(const model::Instance& instance, drivers::DomainSpec& spec) const;

    // State changes and reconcile (instance_reconcile.cpp)
    /// Persists `to` if the instance is still in `from` and no request is changing it.
    /// With `gpus`, the instance holds those from now on (empty: releases them).
    boost::asio::awaitable<bool> record(const model::Uuid& id, model::InstanceState from,
                                        model::InstanceState to, std::optional<std::string> ip,
                                        std::string reason,
                                        std::optional<std::vector<model::PciAddress>> gpus = std::nullopt);
    boost::asio::awaitable<void> observe(model::Uuid id);
    boost::asio::awaitable<void> refreshAddress(model::Uuid id);
    boost::asio::awaitable<void> resyncLoop();
    boost::asio::awaitable<bool> reconcileHost(std::size_t host);
    boost::asio::awaitable<void> removeOrphans(std::size_t host,
                                               const std::vector<drivers::ManagedDomain>& domains);
    bool stillWanted(const model::Uuid& id, model::InstanceState state) const;
    void domainChanged(const model::Uuid& instanceId);
    void connectionLost(std::size_t host);
    void devicesChanged(std::size_t host);
    void retryLater(const model::Uuid& id, std::chrono::milliseconds after);

    InstanceStore& store_;
    const Catalog& catalog_;
    BlockingPool& storePool_;
    BlockingPool& hostPool_;  // libvirt and process calls
    boost::asio::any_io_executor executor_;
    InstanceOptions options_;
    model::Uuid agentId_;

    mutable std::shared_mutex mutex_;
    std::map<model::Uuid, Entry> byId_;
    std::uint64_t nextOrder_ = 0;
    std::vector<HostState> hosts_;  // fixed size; fields guarded by mutex_
    std::vector<std::unique_ptr<HostEvents>> hostEvents_;
    std::map<std::string, std::size_t, std::less<>> hostByName_;  // fixed at construction
    const FilesystemDirectory* filesystems_ = nullptr;

    std::mutex imageMutex_;  // one import per base image at a time
    std::atomic<bool> stopping_{false};
    std::atomic<bool> resyncSoon_{false};        // the connection dropped: resync again shortly
    boost::asio::any_io_executor resyncStrand_;  // the resync loop and its timer live here
    boost::asio::steady_timer resyncTimer_;
};

/// Volume names in the storage pool: derived from ids, never from user text.
std::string rootVolumeName(const model::Uuid& id);
std::string seedVolumeName(const model::Uuid& id);
/// The instance a volume made by rootVolumeName/seedVolumeName belongs to.
std::optional<model::Uuid> instanceIdFromVolumeName(std::string_view name);

}  // namespace gpuhost::agent

#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "blocking_pool.hpp"
#include "keyed_work_queue.hpp"
#include "metrics.hpp"
#include "model/filesystem.hpp"
#include "model/quotas.hpp"
#include "services/resource_index.hpp"
#include "storage.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// A filesystem as an instance on its host sees it.
struct SharedDirectory {
    model::Uuid id;  // the virtiofs tag
    std::string name;
    std::string host;
    std::string mountPoint;  // on the host; empty until it is mounted
    bool available = false;
};

/// What InstanceService needs to know about filesystems.
class FilesystemDirectory {
  public:
    virtual ~FilesystemDirectory() = default;
    /// The project's filesystem `id`, or nullopt when absent or in another project.
    virtual std::optional<SharedDirectory> find(const model::Uuid& project, const model::Uuid& id) const = 0;
};

/// Where filesystems can live: one entry per hypervisor host, with its blocking pool.
struct FilesystemHost {
    std::string name;
    drivers::Storage* storage = nullptr;
    BlockingPool* pool = nullptr;  // null: the service's host pool
};

/// Filesystems: size-limited directories (a libvirt "fs" pool over a sparse ext4 image
/// on one host) that instances of the project mount through virtiofs. Admission is
/// durable before the reply; a keyed work queue then drives each filesystem to its state
/// (one job at a time per filesystem, transient failures retried with backoff), and a
/// periodic pass re-checks them all (mounts come back after a restart).
class FilesystemService final : public FilesystemDirectory {
  public:
    /// `storePool` runs store calls, each host's pool (else `hostPool`) its libvirt calls.
    FilesystemService(FilesystemStore& store, BlockingPool& storePool, BlockingPool& hostPool,
                      std::vector<FilesystemHost> hosts, boost::asio::any_io_executor executor,
                      std::uint64_t maxBytes, std::chrono::milliseconds resyncInterval,
                      RetryPolicy retry = {});

    /// The limits creates are held to (default: model::Quotas{}); set before start().
    void setQuotas(model::Quotas quotas) { quotas_ = std::move(quotas); }

    model::Result<void> loadBlocking();
    void start();
    void stop();

    boost::asio::awaitable<model::Result<model::Filesystem>> create(const model::Uuid& project,
                                                                    model::CreateFilesystem request);
    model::Result<model::Filesystem> get(const model::Uuid& project, const model::Uuid& id) const;
    std::vector<model::Filesystem> list(const model::Uuid& project) const;
    /// 204 semantics: NotFound, Conflict while an instance uses it, else deleting.
    boost::asio::awaitable<model::Result<void>> remove(const model::Uuid& project, const model::Uuid& id);
    std::optional<SharedDirectory> find(const model::Uuid& project, const model::Uuid& id) const override;
    std::uint64_t maxBytes() const { return maxBytes_; }
    std::vector<ResourceCount> countByState() const;

  private:
    /// QuotaExceeded when one more filesystem of `sizeBytes` would pass a limit.
    model::Result<void> roomLocked(const model::Uuid& project, std::uint64_t sizeBytes) const;
    struct Entry {
        model::Filesystem filesystem;
        std::string mountPoint;
    };
    struct Traits {
        static model::Uuid id(const Entry& entry) { return entry.filesystem.id; }
        static model::Uuid owner(const Entry& entry) { return entry.filesystem.projectId; }
        static std::string scope(const Entry&) { return {}; }
        static const std::string& name(const Entry& entry) { return entry.filesystem.name; }
    };
    boost::asio::awaitable<void> resyncLoop();
    boost::asio::awaitable<WorkOutcome> converge(model::Uuid id);
    boost::asio::awaitable<void> record(const model::Uuid& id, model::FilesystemState state,
                                        std::string reason);
    boost::asio::awaitable<bool> forget(const model::Uuid& id);
    std::string chooseHostLocked(const model::Uuid& project) const;
    const FilesystemHost* hostNamed(const std::string& host) const;

    FilesystemStore& store_;
    BlockingPool& storePool_;
    std::vector<FilesystemHost> hosts_;
    std::uint64_t maxBytes_;
    model::Quotas quotas_;
    std::chrono::milliseconds resyncInterval_;
    mutable std::shared_mutex mutex_;
    ResourceIndex<Entry, Traits> index_;
    std::atomic<bool> stopping_{false};
    boost::asio::any_io_executor strand_;  // the resync loop and its timer
    boost::asio::steady_timer timer_;
    KeyedWorkQueue<model::Uuid> queue_;
};

/// The libvirt pool (and image volume stem) of a filesystem: derived from its id only.
std::string sharedDirectoryName(const model::Uuid& id);

}  // namespace gpuhost::agent

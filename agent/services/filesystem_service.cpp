// FilesystemService: admission, queries and the jobs that make filesystems real.
#include "services/filesystem_service.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "log.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Filesystem;
using model::FilesystemState;
using model::Result;

namespace {

Filesystem newFilesystem(const model::Uuid& project, model::CreateFilesystem request) {
    Filesystem filesystem;
    filesystem.id = model::Uuid::random();
    filesystem.projectId = project;
    filesystem.name = std::move(request.name);
    filesystem.sizeBytes = request.sizeBytes;
    filesystem.createdAt =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return filesystem;
}

}  // namespace

std::string sharedDirectoryName(const model::Uuid& id) {
    return "gpuhost-fs-" + id.str();
}

FilesystemService::FilesystemService(FilesystemStore& store, BlockingPool& storePool, BlockingPool& hostPool,
                                     std::vector<FilesystemHost> hosts, asio::any_io_executor executor,
                                     std::uint64_t maxBytes, std::chrono::milliseconds resyncInterval,
                                     RetryPolicy retry)
    : store_(store),
      storePool_(storePool),
      hosts_(std::move(hosts)),
      maxBytes_(maxBytes),
      resyncInterval_(resyncInterval),
      strand_(asio::make_strand(executor)),
      timer_(strand_),
      queue_(
          executor, [this](model::Uuid id, unsigned) { return converge(id); }, retry) {
    for (auto& host : hosts_) {
        if (host.pool == nullptr) {
            host.pool = &hostPool;
        }
    }
}

Result<void> FilesystemService::loadBlocking() {
    auto loaded = store_.loadFilesystems();
    if (!loaded) {
        return loaded.error();
    }
    std::unique_lock lock(mutex_);
    for (auto& filesystem : *loaded) {  // in creation order
        index_.add(Entry{std::move(filesystem), {}}, false);
    }
    return {};
}

void FilesystemService::start() {
    asio::co_spawn(strand_, resyncLoop(), asio::detached);
}

void FilesystemService::stop() {
    stopping_.store(true);
    queue_.stop();
    asio::post(strand_, [this] { timer_.cancel(); });
}

// Every filesystem is checked at start (mounts come back after a host restart) and then
// periodically; changes in between are scheduled as they are admitted.
asio::awaitable<void> FilesystemService::resyncLoop() {
    while (!stopping_.load()) {
        std::vector<model::Uuid> ids;
        {
            std::shared_lock lock(mutex_);
            for (const auto& [id, slot] : index_.all()) {
                if (!slot.pending) {
                    ids.push_back(id);
                }
            }
        }
        for (const auto& id : ids) {
            queue_.schedule(id, 1);
        }
        if (stopping_.load()) {
            co_return;  // stop() may have cancelled before this wait was armed
        }
        timer_.expires_after(resyncInterval_);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

// An instance can only attach filesystems of one host, so a project's filesystems stay
// together: the host that already has most of the project's; for a project's first,
// the host holding the fewest filesystem bytes (deterministic on ties).
std::string FilesystemService::chooseHostLocked(const model::Uuid& project) const {
    std::map<std::string, std::uint64_t> bytes, ofProject;
    for (const auto& host : hosts_) {
        bytes[host.name] = 0;
        ofProject[host.name] = 0;
    }
    for (const auto& [id, slot] : index_.all()) {
        const auto& filesystem = slot.entry.filesystem;
        bytes[filesystem.host] += filesystem.sizeBytes;
        if (filesystem.projectId == project && filesystem.state != FilesystemState::Deleting) {
            ++ofProject[filesystem.host];
        }
    }
    auto best = hosts_.front().name;
    for (const auto& host : hosts_) {
        auto key = std::make_pair(ofProject[host.name], -static_cast<double>(bytes[host.name]));
        auto bestKey = std::make_pair(ofProject[best], -static_cast<double>(bytes[best]));
        if (key > bestKey) {
            best = host.name;
        }
    }
    return best;
}

const FilesystemHost* FilesystemService::hostNamed(const std::string& host) const {
    auto it =
        std::find_if(hosts_.begin(), hosts_.end(), [&](const FilesystemHost& h) { return h.name == host; });
    return it == hosts_.end() ? nullptr : &*it;
}

asio::awaitable<Result<Filesystem>> FilesystemService::create(const model::Uuid& project,
                                                              model::CreateFilesystem request) {
    if (request.sizeBytes > maxBytes_) {
        co_return Error::invalid("size", "is larger than this region allows");
    }
    Filesystem filesystem = newFilesystem(project, std::move(request));
    {
        std::unique_lock lock(mutex_);
        if (auto room = roomLocked(project, filesystem.sizeBytes); !room) {
            co_return room.error();
        }
        if (index_.nameTaken(project, {}, filesystem.name)) {
            co_return Error{ErrorCode::Conflict, "this project already has a filesystem with this name",
                            "name"};
        }
        filesystem.host = chooseHostLocked(project);
        index_.add(Entry{filesystem, {}}, true);  // counted, invisible
    }
    auto insert = [this, filesystem] { return store_.insertFilesystem(filesystem); };
    auto stored = co_await storePool_.run(std::move(insert));
    {
        std::unique_lock lock(mutex_);
        if (!stored) {
            index_.erase(filesystem.id);
            co_return stored.error();
        }
        index_.commit(filesystem.id);
    }
    log::info("filesystem admitted", {{"filesystem", filesystem.id.str()}, {"host", filesystem.host}});
    queue_.schedule(filesystem.id, 1);
    co_return filesystem;
}

Result<void> FilesystemService::roomLocked(const model::Uuid& project, std::uint64_t sizeBytes) const {
    const auto& limits = quotas_.of(project);
    if (index_.countOfOwner(project) + 1 > limits.filesystems) {
        return model::quotaExceeded(quotas_.keyOf(project, "filesystems"), limits.filesystems,
                                    "this project has as many filesystems as it may");
    }
    if (index_.size() + 1 > quotas_.region.filesystems) {
        return model::quotaExceeded("quotas.region.filesystems", quotas_.region.filesystems,
                                    "this region has as many filesystems as it may hold");
    }
    std::uint64_t used = 0;
    index_.forEachOfOwner(project, [&](const Entry& entry) { used += entry.filesystem.sizeBytes; });
    if (used + sizeBytes > limits.filesystemBytes) {
        return model::quotaExceeded(quotas_.keyOf(project, "filesystem_bytes"), limits.filesystemBytes,
                                    "the project's filesystems would be larger together than it may have");
    }
    return {};
}

Result<Filesystem> FilesystemService::get(const model::Uuid& project, const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    const auto* entry = index_.visible(project, id);
    if (entry == nullptr) {
        return Error::notFound("filesystem");
    }
    return entry->filesystem;
}

std::vector<Filesystem> FilesystemService::list(const model::Uuid& project) const {
    std::vector<Filesystem> shown;
    std::shared_lock lock(mutex_);
    for (const auto* entry : index_.ofOwner(project)) {  // creation order
        shown.push_back(entry->filesystem);
    }
    return shown;
}

std::optional<SharedDirectory> FilesystemService::find(const model::Uuid& project,
                                                       const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    const auto* entry = index_.visible(project, id);
    if (entry == nullptr) {
        return std::nullopt;
    }
    return SharedDirectory{id, entry->filesystem.name, entry->filesystem.host, entry->mountPoint,
                           entry->filesystem.state == FilesystemState::Available};
}

asio::awaitable<Result<void>> FilesystemService::remove(const model::Uuid& project, const model::Uuid& id) {
    {
        std::shared_lock lock(mutex_);
        const auto* entry = index_.visible(project, id);
        if (entry == nullptr) {
            co_return Error::notFound("filesystem");
        }
        if (entry->filesystem.state == FilesystemState::Deleting) {
            co_return Result<void>{};  // already going
        }
    }
    // The in-use check and the state change are one store transaction: an instance
    // created meanwhile either got its reference in first (409 here) or finds it deleting.
    auto begin = [this, id] { return store_.beginFilesystemDelete(id); };
    auto begun = co_await storePool_.run(std::move(begin));
    if (!begun) {
        co_return begun.error();
    }
    {
        std::unique_lock lock(mutex_);
        if (auto* entry = index_.find(id)) {
            entry->filesystem.state = FilesystemState::Deleting;
            entry->filesystem.reason.clear();
        }
    }
    queue_.schedule(id, 1);
    co_return Result<void>{};
}

std::vector<ResourceCount> FilesystemService::countByState() const {
    std::map<std::string, std::uint64_t> counts;
    for (auto state : {FilesystemState::Creating, FilesystemState::Available, FilesystemState::Deleting,
                       FilesystemState::Failed}) {
        counts[std::string(nameOf(state))] = 0;
    }
    std::shared_lock lock(mutex_);
    for (const auto& [id, slot] : index_.all()) {
        ++counts[std::string(nameOf(slot.entry.filesystem.state))];
    }
    std::vector<ResourceCount> samples;
    for (const auto& [state, count] : counts) {
        samples.push_back({"filesystem", state, count});
    }
    return samples;
}

// Idempotent: creating/available → make sure it is formatted and mounted (libvirt's
// autostart mounts it at boot; this covers everything else); deleting → unmount and
// remove, then forget it.
asio::awaitable<WorkOutcome> FilesystemService::converge(model::Uuid id) {
    std::optional<Entry> entry;
    {
        std::shared_lock lock(mutex_);
        if (auto* found = index_.find(id); found != nullptr && !index_.isPending(id)) {
            entry = *found;
        }
    }
    if (!entry || entry->filesystem.state == FilesystemState::Failed || stopping_.load()) {
        co_return WorkOutcome::Done;
    }
    const auto* host = hostNamed(entry->filesystem.host);
    if (host == nullptr) {
        // Its host left the configuration: nothing can reach it; a delete just forgets it.
        if (entry->filesystem.state != FilesystemState::Deleting) {
            co_return WorkOutcome::Done;
        }
        co_return co_await forget(id) ? WorkOutcome::Done : WorkOutcome::Retry;
    }
    auto name = sharedDirectoryName(id);
    auto* storage = host->storage;
    if (entry->filesystem.state == FilesystemState::Deleting) {
        auto work = [storage, name] { return storage->removeSharedDirectory(name); };
        if (auto done = co_await host->pool->run(std::move(work)); !done) {
            log::warn("filesystem delete deferred",
                      {{"filesystem", id.str()}, {"error", done.error().message}});
            co_return WorkOutcome::Retry;
        }
        co_return co_await forget(id) ? WorkOutcome::Done : WorkOutcome::Retry;
    }
    auto work = [storage, name, size = entry->filesystem.sizeBytes]() -> Result<std::string> {
        if (auto pool = storage->ensurePool(); !pool) {  // the image lives in the agent's pool
            return pool.error();
        }
        return storage->ensureSharedDirectory(name, size);
    };
    auto mounted = co_await host->pool->run(std::move(work));
    if (!mounted) {
        log::warn("filesystem not mounted", {{"filesystem", id.str()}, {"error", mounted.error().message}});
        if (mounted.error().code == ErrorCode::Unavailable) {
            co_return WorkOutcome::Retry;
        }
        if (entry->filesystem.state == FilesystemState::Creating) {
            co_await record(id, FilesystemState::Failed, mounted.error().message);
        }
        co_return WorkOutcome::Done;
    }
    {
        std::unique_lock lock(mutex_);
        if (auto* found = index_.find(id)) {
            found->mountPoint = *mounted;
        }
    }
    if (entry->filesystem.state == FilesystemState::Creating) {
        co_await record(id, FilesystemState::Available, "");
    }
    co_return WorkOutcome::Done;
}

// The store first (on the store pool), then memory.
asio::awaitable<bool> FilesystemService::forget(const model::Uuid& id) {
    auto remove = [this, id] { return store_.deleteFilesystem(id); };
    if (auto removed = co_await storePool_.run(std::move(remove)); !removed) {
        log::warn("cannot remove a deleted filesystem from the store",
                  {{"filesystem", id.str()}, {"error", removed.error().message}});
        co_return false;
    }
    std::unique_lock lock(mutex_);
    index_.erase(id);
    log::info("filesystem deleted", {{"filesystem", id.str()}});
    co_return true;
}

asio::awaitable<void> FilesystemService::record(const model::Uuid& id, FilesystemState state,
                                                std::string reason) {
    auto write = [this, id, state, reason] { return store_.updateFilesystemState(id, state, reason); };
    if (auto stored = co_await storePool_.run(std::move(write)); !stored) {
        co_return;
    }
    std::unique_lock lock(mutex_);
    auto* entry = index_.find(id);
    // Only from creating: a DELETE admitted meanwhile has already moved it on.
    if (entry != nullptr && entry->filesystem.state == FilesystemState::Creating) {
        entry->filesystem.state = state;
        entry->filesystem.reason = reason;
        log::info("filesystem state", {{"filesystem", id.str()}, {"state", std::string(nameOf(state))}});
    }
}

}  // namespace gpuhost::agent

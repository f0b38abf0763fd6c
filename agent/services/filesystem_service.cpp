// FilesystemService: admission, queries and the worker that makes filesystems real.
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
                                     std::uint64_t maxBytes, std::chrono::milliseconds resyncInterval)
    : store_(store),
      storePool_(storePool),
      hostPool_(hostPool),
      hosts_(std::move(hosts)),
      maxBytes_(maxBytes),
      resyncInterval_(resyncInterval),
      strand_(asio::make_strand(executor)),
      timer_(strand_) {}

Result<void> FilesystemService::loadBlocking() {
    auto loaded = store_.loadFilesystems();
    if (!loaded) {
        return loaded.error();
    }
    std::unique_lock lock(mutex_);
    for (auto& filesystem : *loaded) {
        auto id = filesystem.id;
        byId_[id] = Entry{std::move(filesystem), {}, nextOrder_++, false};
    }
    return {};
}

void FilesystemService::start() {
    asio::co_spawn(strand_, worker(), asio::detached);
}

void FilesystemService::stop() {
    stopping_.store(true);
    asio::post(strand_, [this] { timer_.cancel(); });
}

void FilesystemService::kick() {
    kicked_.store(true);
    asio::post(strand_, [this] { timer_.cancel(); });
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
    for (const auto& [id, entry] : byId_) {
        bytes[entry.filesystem.host] += entry.filesystem.sizeBytes;
        if (entry.filesystem.projectId == project && entry.filesystem.state != FilesystemState::Deleting) {
            ++ofProject[entry.filesystem.host];
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

drivers::Storage* FilesystemService::storageFor(const std::string& host) const {
    auto it =
        std::find_if(hosts_.begin(), hosts_.end(), [&](const FilesystemHost& h) { return h.name == host; });
    return it == hosts_.end() ? nullptr : it->storage;
}

asio::awaitable<Result<Filesystem>> FilesystemService::create(const model::Uuid& project,
                                                              model::CreateFilesystem request) {
    if (request.sizeBytes > maxBytes_) {
        co_return Error::invalid("size", "is larger than this region allows");
    }
    Filesystem filesystem = newFilesystem(project, std::move(request));
    {
        std::unique_lock lock(mutex_);
        for (const auto& [id, entry] : byId_) {
            if (entry.filesystem.projectId == project && entry.filesystem.name == filesystem.name) {
                co_return Error{ErrorCode::Conflict, "this project already has a filesystem with this name",
                                "name"};
            }
        }
        filesystem.host = chooseHostLocked(project);
        byId_[filesystem.id] = Entry{filesystem, {}, nextOrder_++, true};  // counted, invisible
    }
    auto insert = [this, filesystem] { return store_.insertFilesystem(filesystem); };
    auto stored = co_await storePool_.run(std::move(insert));
    {
        std::unique_lock lock(mutex_);
        if (!stored) {
            byId_.erase(filesystem.id);
            co_return stored.error();
        }
        byId_[filesystem.id].inserting = false;
    }
    log::info("filesystem admitted", {{"filesystem", filesystem.id.str()}, {"host", filesystem.host}});
    kick();
    co_return filesystem;
}

Result<Filesystem> FilesystemService::get(const model::Uuid& project, const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end() || it->second.inserting || it->second.filesystem.projectId != project) {
        return Error::notFound("filesystem");
    }
    return it->second.filesystem;
}

std::vector<Filesystem> FilesystemService::list(const model::Uuid& project) const {
    std::vector<std::pair<std::uint64_t, Filesystem>> ordered;
    std::shared_lock lock(mutex_);
    for (const auto& [id, entry] : byId_) {
        if (entry.filesystem.projectId == project && !entry.inserting) {
            ordered.emplace_back(entry.order, entry.filesystem);
        }
    }
    lock.unlock();
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Filesystem> shown;
    for (auto& [order, filesystem] : ordered) {
        shown.push_back(std::move(filesystem));
    }
    return shown;
}

std::optional<SharedDirectory> FilesystemService::find(const model::Uuid& project,
                                                       const model::Uuid& id) const {
    std::shared_lock lock(mutex_);
    auto it = byId_.find(id);
    if (it == byId_.end() || it->second.inserting || it->second.filesystem.projectId != project) {
        return std::nullopt;
    }
    const auto& entry = it->second;
    return SharedDirectory{id, entry.filesystem.name, entry.filesystem.host, entry.mountPoint,
                           entry.filesystem.state == FilesystemState::Available};
}

asio::awaitable<Result<void>> FilesystemService::remove(const model::Uuid& project, const model::Uuid& id) {
    {
        std::shared_lock lock(mutex_);
        auto it = byId_.find(id);
        if (it == byId_.end() || it->second.inserting || it->second.filesystem.projectId != project) {
            co_return Error::notFound("filesystem");
        }
        if (it->second.filesystem.state == FilesystemState::Deleting) {
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
        if (auto it = byId_.find(id); it != byId_.end()) {
            it->second.filesystem.state = FilesystemState::Deleting;
            it->second.filesystem.reason.clear();
        }
    }
    kick();
    co_return Result<void>{};
}

std::vector<ResourceCount> FilesystemService::countByState() const {
    std::map<std::string, std::uint64_t> counts;
    for (auto state : {FilesystemState::Creating, FilesystemState::Available, FilesystemState::Deleting,
                       FilesystemState::Failed}) {
        counts[std::string(nameOf(state))] = 0;
    }
    std::shared_lock lock(mutex_);
    for (const auto& [id, entry] : byId_) {
        ++counts[std::string(nameOf(entry.filesystem.state))];
    }
    std::vector<ResourceCount> samples;
    for (const auto& [state, count] : counts) {
        samples.push_back({"filesystem", state, count});
    }
    return samples;
}

asio::awaitable<void> FilesystemService::worker() {
    while (!stopping_.load()) {
        kicked_.store(false);
        std::vector<model::Uuid> ids;
        {
            std::shared_lock lock(mutex_);
            for (const auto& [id, entry] : byId_) {
                if (!entry.inserting) {
                    ids.push_back(id);
                }
            }
        }
        for (const auto& id : ids) {
            if (stopping_.load()) {
                co_return;
            }
            co_await converge(id);
        }
        if (kicked_.load()) {
            continue;
        }
        if (stopping_.load()) {
            co_return;  // stop() may have cancelled before this wait was armed
        }
        timer_.expires_after(resyncInterval_);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

// Idempotent: creating/available → make sure it is formatted and mounted (libvirt's
// autostart mounts it at boot; this covers everything else); deleting → unmount and
// remove, then forget it.
asio::awaitable<void> FilesystemService::converge(model::Uuid id) {
    std::optional<Entry> entry;
    {
        std::shared_lock lock(mutex_);
        if (auto it = byId_.find(id); it != byId_.end()) {
            entry = it->second;
        }
    }
    if (!entry || entry->filesystem.state == FilesystemState::Failed) {
        co_return;
    }
    auto* storage = storageFor(entry->filesystem.host);
    if (storage == nullptr) {
        // Its host left the configuration: nothing can reach it; a delete just forgets it.
        if (entry->filesystem.state != FilesystemState::Deleting) {
            co_return;
        }
        auto forget = [this, id] { return store_.deleteFilesystem(id); };
        if (co_await storePool_.run(std::move(forget))) {
            std::unique_lock lock(mutex_);
            byId_.erase(id);
        }
        co_return;
    }
    auto name = sharedDirectoryName(id);
    if (entry->filesystem.state == FilesystemState::Deleting) {
        auto work = [this, storage, name, id]() -> Result<void> {
            if (auto removed = storage->removeSharedDirectory(name); !removed) {
                return removed;
            }
            return store_.deleteFilesystem(id);
        };
        if (auto done = co_await hostPool_.run(std::move(work)); !done) {
            log::warn("filesystem delete deferred",
                      {{"filesystem", id.str()}, {"error", done.error().message}});
            co_return;
        }
        std::unique_lock lock(mutex_);
        byId_.erase(id);
        log::info("filesystem deleted", {{"filesystem", id.str()}});
        co_return;
    }
    auto work = [storage, name, size = entry->filesystem.sizeBytes]() -> Result<std::string> {
        if (auto pool = storage->ensurePool(); !pool) {  // the image lives in the agent's pool
            return pool.error();
        }
        return storage->ensureSharedDirectory(name, size);
    };
    auto mounted = co_await hostPool_.run(std::move(work));
    if (!mounted) {
        if (mounted.error().code != ErrorCode::Unavailable &&
            entry->filesystem.state == FilesystemState::Creating) {
            co_await record(id, FilesystemState::Failed, mounted.error().message);
        }
        log::warn("filesystem not mounted", {{"filesystem", id.str()}, {"error", mounted.error().message}});
        co_return;
    }
    {
        std::unique_lock lock(mutex_);
        if (auto it = byId_.find(id); it != byId_.end()) {
            it->second.mountPoint = *mounted;
        }
    }
    if (entry->filesystem.state == FilesystemState::Creating) {
        co_await record(id, FilesystemState::Available, "");
    }
}

asio::awaitable<void> FilesystemService::record(const model::Uuid& id, FilesystemState state,
                                                std::string reason) {
    auto write = [this, id, state, reason] { return store_.updateFilesystemState(id, state, reason); };
    if (auto stored = co_await storePool_.run(std::move(write)); !stored) {
        co_return;
    }
    std::unique_lock lock(mutex_);
    auto it = byId_.find(id);
    // Only from creating: a DELETE admitted meanwhile has already moved it on.
    if (it != byId_.end() && it->second.filesystem.state == FilesystemState::Creating) {
        it->second.filesystem.state = state;
        it->second.filesystem.reason = reason;
        log::info("filesystem state", {{"filesystem", id.str()}, {"state", std::string(nameOf(state))}});
    }
}

}  // namespace gpuhost::agent

// InstanceService jobs: each drives one instance from its stored transitional state
// to the next steady one. Every step is idempotent, so a job cut short by a crash is
// run again from the top by the reconciler.
#include <sys/stat.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>

#include "log.hpp"
#include "seed.hpp"
#include "seed/seed_iso.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using drivers::PowerState;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

constexpr std::string_view kVolumePrefix = "gpuhost-";
constexpr std::string_view kRootSuffix = "-root.qcow2";
constexpr std::string_view kSeedSuffix = "-seed.iso";

// Changes when the operator replaces the image file, so a new base is imported and
// overlays made from the old one keep theirs.
std::string baseVolumeName(const ImageConfig& image) {
    struct stat info {};
    ::stat(image.path.c_str(), &info);
    auto fingerprint = std::hash<std::string>{}(image.path.string() + ":" + std::to_string(info.st_size) +
                                                ":" + std::to_string(info.st_mtim.tv_sec) + "." +
                                                std::to_string(info.st_mtim.tv_nsec));
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016zx", fingerprint);
    return "image-" + image.name + "-" + hex + ".img";
}

// A preempted domain may still hold our GPUs (its stop is in flight), or a domain
// outside gpuhost does: Unavailable, so the job waits rather than fails.
Result<void> devicesFree(drivers::Hypervisor& hypervisor, const std::string& domain,
                         const std::vector<model::PciAddress>& devices) {
    if (devices.empty()) {
        return {};
    }
    auto held = hypervisor.assignedPciDevices();
    if (!held) {
        return held.error();
    }
    for (const auto& device : devices) {
        auto it = held->find(device);
        if (it != held->end() && it->second != domain) {
            return Error{
                ErrorCode::Unavailable, "GPU " + device.str() + " is still held by domain " + it->second, {}};
        }
    }
    return {};
}

Result<void> ignoreNotFound(Result<void> result) {
    return !result && result.error().code == ErrorCode::NotFound ? Result<void>{} : result;
}

}  // namespace

std::string rootVolumeName(const model::Uuid& id) {
    return std::string(kVolumePrefix) + id.str() + std::string(kRootSuffix);
}

std::string seedVolumeName(const model::Uuid& id) {
    return std::string(kVolumePrefix) + id.str() + std::string(kSeedSuffix);
}

std::optional<model::Uuid> instanceIdFromVolumeName(std::string_view name) {
    if (!name.starts_with(kVolumePrefix)) {
        return std::nullopt;
    }
    name.remove_prefix(kVolumePrefix.size());
    for (auto suffix : {kRootSuffix, kSeedSuffix}) {
        if (name.ends_with(suffix)) {
            return model::Uuid::parse(name.substr(0, name.size() - suffix.size()));
        }
    }
    return std::nullopt;
}

asio::awaitable<void> InstanceService::converge(model::Uuid id) {
    auto instance = snapshot(id);
    if (!instance) {
        co_return;
    }
    auto from = instance->state;
    if (hostIndex(instance->host) == kNoHost && from == InstanceState::Deleting) {
        // Its host left the configuration: nothing here can reach its domain any more.
        log::warn("forgetting an instance whose host is gone",
                  {{"instance", id.str()}, {"host", instance->host}});
        auto forget = [this, id] { return store_.deleteInstance(id); };
        if (auto removed = co_await storePool_.run(std::move(forget)); removed) {
            std::unique_lock lock(mutex_);
            byId_.erase(id);
        }
        co_return;
    }
    if (hostIndex(instance->host) == kNoHost) {
        co_return;  // shown as error (see visible()); delete is the way out
    }
    Result<void> done;
    switch (from) {
        case InstanceState::Creating:
        case InstanceState::Starting:
            done = co_await provision(*instance, from == InstanceState::Creating || instance->ephemeral);
            break;
        case InstanceState::Stopping:
            done = co_await powerOff(*instance);
            break;
        case InstanceState::Deleting:
            done = co_await teardown(*instance);
            break;
        default:
            co_return;  // steady states: nothing to drive
    }
    if (!done && (done.error().code == ErrorCode::Unavailable || stopping_.load())) {
        // libvirt unreachable, GPUs still held by a preempted domain, or the agent
        // stopping: stay transitional; the reconciler retries, GPU waits sooner.
        log::warn("instance job deferred", {{"instance", id.str()}, {"error", done.error().message}});
        if ((!instance->gpus.empty() || !instance->filesystems.empty()) && !stopping_.load()) {
            retryLater(id, std::chrono::seconds(1));
        }
        co_return;
    }
    if (!done) {
        log::error("instance job failed", {{"instance", id.str()}, {"error", done.error().message}});
        co_await record(id, from, InstanceState::Failed, std::nullopt, done.error().message);
        co_return;
    }
    if (from == InstanceState::Deleting) {
        auto forget = [this, id] { return store_.deleteInstance(id); };
        if (auto removed = co_await storePool_.run(std::move(forget)); removed) {
            std::unique_lock lock(mutex_);
            byId_.erase(id);
            log::info("instance deleted", {{"instance", id.str()}});
        }
        co_return;
    }
    // A stopped instance gives its GPUs back (its domain is off now); a preempted one
    // keeps the reason it was stopped.
    if (from == InstanceState::Stopping) {
        co_await record(id, from, InstanceState::Stopped, std::nullopt, instance->reason,
                        std::vector<model::PciAddress>{});
        co_return;
    }
    if (co_await record(id, from, InstanceState::Running, std::nullopt, "")) {
        schedule(id, Job::Address);
    }
}

asio::awaitable<Result<void>> InstanceService::provision(const Instance& instance, bool freshRoot) {
    const auto* type = catalog_.findInstanceType(instance.type);
    auto imageName = model::parseImageReference(instance.image);
    const auto* image = imageName ? catalog_.findImage(*imageName) : nullptr;
    if (type == nullptr || image == nullptr) {
        co_return Error::internal("instance type " + instance.type + " or image " + instance.image +
                                  " is no longer configured");
    }
    const auto& host = hosts_[hostIndex(instance.host)].binding;
    auto& hypervisor = *host.hypervisor;
    auto& storage = *host.storage;
    if (!instance.gpus.empty()) {
        // Before touching disks: while another domain still holds the GPUs, every retry
        // would otherwise recreate the root disk and the seed.
        drivers::DomainSpec devices;
        {
            std::shared_lock lock(mutex_);
            if (auto placed = placeGpusLocked(instance, devices); !placed) {
                co_return placed.error();
            }
        }
        auto check = [name = drivers::domainName(instance.id), wanted = devices.hostDevices, &hypervisor] {
            return devicesFree(hypervisor, name, wanted);
        };
        if (auto free = co_await hostPool_.run(std::move(check)); !free) {
            co_return free.error();
        }
    }
    // Shared filesystems: mounted on the host before the domain may use them.
    std::vector<cloudinit::Mount> mounts;
    std::vector<drivers::DomainSpec::SharedDirectory> shared;
    for (const auto& id : instance.filesystems) {
        auto found = filesystems_ != nullptr ? filesystems_->find(instance.projectId, id) : std::nullopt;
        if (!found) {
            co_return Error::internal("filesystem " + id.str() + " is gone");
        }
        if (found->mountPoint.empty()) {
            co_return Error{ErrorCode::Unavailable, "filesystem " + id.str() + " is not mounted yet", {}};
        }
        mounts.push_back({id.str(), found->name});
        shared.push_back({id.str(), found->mountPoint});
    }
    // Empty paths: the domain already runs (a job cut short after its start, or a domain
    // that is running while its instance is in error): its disks are in use, leave them.
    auto disks = [this, instance, type, image, freshRoot, mounts, &hypervisor,
                  &storage]() -> Result<std::pair<std::string, std::string>> {
        auto power = hypervisor.powerState(drivers::domainName(instance.id));
        if (power && *power == PowerState::Running) {
            return std::make_pair(std::string(), std::string());
        }
        if (!power && power.error().code != ErrorCode::NotFound) {
            return power.error();
        }
        // The host's pool may not exist yet: a create can come before the first reconcile
        // of its host (each host is reconciled in turn) and after a host was wiped.
        if (auto pool = storage.ensurePool(); !pool) {
            return pool.error();
        }
        auto base = baseVolumeBlocking(instance.host, *image);
        if (!base) {
            return base.error();
        }
        auto rootName = rootVolumeName(instance.id);
        auto root = storage.volume(rootName);
        if (!root && root.error().code != ErrorCode::NotFound) {
            return root.error();  // never recreate a disk because of a passing lookup error
        }
        if (!freshRoot && !root) {
            return Error::internal("the root disk volume " + rootName +
                                   " is missing; delete the instance and create it again");
        }
        if (freshRoot) {
            if (auto removed = storage.deleteVolume(rootName); !removed) {
                return removed.error();
            }
            root = storage.createOverlay(rootName, base->path, image->format, type->diskBytes);
            if (!root) {
                return root.error();
            }
        }
        auto seed = writeSeedBlocking(instance, mounts);
        if (!seed) {
            return seed.error();
        }
        return std::make_pair(root->path, *seed);
    };
    auto paths = co_await hostPool_.run(std::move(disks));
    if (!paths) {
        co_return paths.error();
    }
    if (paths->first.empty()) {
        co_return Result<void>{};
    }
    if (!stillWanted(instance.id, instance.state)) {
        // Superseded (a delete is being admitted): record nothing; whatever was admitted
        // runs next, and if its write failed the reconciler runs this job again.
        co_return Error{ErrorCode::Unavailable, "superseded by a newer request", {}};
    }
    auto spec = domainSpec(instance, *type, *image, paths->first, paths->second);
    spec.sharedDirectories = shared;
    spec.virtiofsd = options_.virtiofsd;
    {
        std::shared_lock lock(mutex_);
        if (auto placed = placeGpusLocked(instance, spec); !placed) {
            co_return placed.error();
        }
    }
    auto boot = [spec, &hypervisor]() -> Result<void> {
        auto name = drivers::domainName(spec.instanceId);
        if (auto defined = hypervisor.defineDomain(spec); !defined) {
            return defined;
        }
        auto state = hypervisor.powerState(name);
        if (state && *state == PowerState::Running) {
            return {};  // a job cut short after the start: nothing left to do
        }
        if (auto free = devicesFree(hypervisor, name, spec.hostDevices); !free) {
            return free;
        }
        return hypervisor.startDomain(name);
    };
    co_return co_await hostPool_.run(std::move(boot));
}

asio::awaitable<Result<void>> InstanceService::powerOff(const Instance& instance) {
    auto name = drivers::domainName(instance.id);
    auto& hypervisor = *hosts_[hostIndex(instance.host)].binding.hypervisor;
    auto askToStop = [name, &hypervisor]() -> Result<PowerState> {
        auto state = hypervisor.powerState(name);
        if (!state) {
            return state.error().code == ErrorCode::NotFound ? Result<PowerState>(PowerState::ShutOff)
                                                             : state;
        }
        if (*state == PowerState::ShutOff) {
            return state;
        }
        if (auto asked = hypervisor.shutdownDomain(name);
            !asked && asked.error().code != ErrorCode::Conflict) {
            return asked.error();
        }
        return state;
    };
    auto initial = co_await hostPool_.run(std::move(askToStop));
    if (!initial) {
        co_return initial.error();
    }
    if (*initial == PowerState::ShutOff) {
        co_return Result<void>{};
    }
    // A graceful shutdown first (the guest agent, else ACPI: see shutdownDomain), so the
    // guest can flush its disks; destroy after the timeout.
    auto deadline = std::chrono::steady_clock::now() + options_.shutdownTimeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (std::chrono::steady_clock::now() < deadline && !stopping_.load()) {
        timer.expires_after(std::chrono::milliseconds(250));
        co_await timer.async_wait(asio::use_awaitable);
        auto probe = [name, &hypervisor] { return hypervisor.powerState(name); };
        auto state = co_await hostPool_.run(std::move(probe));
        if ((!state && state.error().code == ErrorCode::NotFound) ||
            (state && *state == PowerState::ShutOff)) {
            co_return Result<void>{};
        }
        if (!state) {
            co_return state.error();  // cannot tell: defer rather than record a stop that did not happen
        }
    }
    if (stopping_.load()) {
        co_return Error{ErrorCode::Unavailable, "agent stopping", {}};
    }
    log::warn("guest ignored the shutdown request (guest agent, ACPI); destroying",
              {{"instance", instance.id.str()}});
    auto destroy = [name, &hypervisor] { return ignoreNotFound(hypervisor.destroyDomain(name)); };
    co_return co_await hostPool_.run(std::move(destroy));
}

asio::awaitable<Result<void>> InstanceService::teardown(const Instance& instance) {
    const auto& host = hosts_[hostIndex(instance.host)].binding;
    auto work = [this, id = instance.id, &host]() -> Result<void> {
        auto name = drivers::domainName(id);
        auto& hypervisor = *host.hypervisor;
        auto& storage = *host.storage;
        for (auto step :
             {std::function<Result<void>()>([&] { return hypervisor.destroyDomain(name); }),
              std::function<Result<void>()>([&] { return hypervisor.undefineDomain(name); }),
              std::function<Result<void>()>([&] { return storage.deleteVolume(rootVolumeName(id)); }),
              std::function<Result<void>()>([&] { return storage.deleteVolume(seedVolumeName(id)); })}) {
            if (auto done = ignoreNotFound(step()); !done) {
                return done;
            }
        }
        std::error_code ignored;
        std::filesystem::remove(options_.consoleLogDir / (id.str() + ".log"), ignored);
        std::filesystem::remove(options_.scratchDir / (id.str() + ".iso"), ignored);
        return {};
    };
    co_return co_await hostPool_.run(std::move(work));
}

Result<drivers::Volume> InstanceService::baseVolumeBlocking(const std::string& hostName,
                                                            const ImageConfig& image) {
    std::lock_guard lock(imageMutex_);
    auto h = hostIndex(hostName);
    auto& storage = *hosts_[h].binding.storage;
    auto name = baseVolumeName(image);
    // The store marks an import complete only after the upload finished: a volume without
    // the mark is what a crash mid-upload left, and is imported again. The first host's
    // marks keep the bare volume name they had before there were several hosts.
    auto mark = h == 0 ? name : hostName + "/" + name;
    auto complete = store_.imageImported(mark);
    if (!complete) {
        return complete.error();
    }
    auto existing = storage.volume(name);
    if (existing && *complete) {
        return existing;
    }
    if (!existing && existing.error().code != ErrorCode::NotFound) {
        return existing;
    }
    if (existing) {
        log::warn("re-importing an image whose import did not finish", {{"volume", name}});
        if (auto removed = storage.deleteVolume(name); !removed) {
            return removed.error();
        }
    }
    log::info("importing image", {{"image", image.name}, {"volume", name}, {"host", hostName}});
    auto imported = storage.importFile(name, image.path);
    if (!imported) {
        return imported;
    }
    if (auto marked = store_.markImageImported(mark); !marked) {
        return marked.error();
    }
    return imported;
}

Result<std::string> InstanceService::writeSeedBlocking(const Instance& instance,
                                                       const std::vector<cloudinit::Mount>& mounts) {
    std::vector<cloudinit::Part> parts;
    if (auto part = cloudinit::mountPart(mounts)) {
        parts.push_back(std::move(*part));
    }
    auto userData = cloudinit::userData(instance.userData, parts);
    if (!userData) {
        return userData.error();
    }
    drivers::SeedFiles files{std::move(*userData), cloudinit::metaData(instance.id, instance.name),
                             cloudinit::networkConfig(drivers::macAddressFor(instance.id))};
    auto iso = options_.scratchDir / (instance.id.str() + ".iso");
    if (auto written = drivers::writeSeedIso(files, iso); !written) {
        return written.error();
    }
    auto name = seedVolumeName(instance.id);
    auto& storage = *hosts_[hostIndex(instance.host)].binding.storage;
    auto volume = storage.deleteVolume(name).ok()
                      ? storage.importFile(name, iso)
                      : Result<drivers::Volume>(Error::internal("replace " + name));
    std::error_code ignored;
    std::filesystem::remove(iso, ignored);
    if (!volume) {
        return volume.error();
    }
    return volume->path;
}

drivers::DomainSpec InstanceService::domainSpec(const Instance& instance, const model::InstanceType& type,
                                                const ImageConfig& image, const std::string& root,
                                                const std::string& seed) const {
    drivers::DomainSpec spec;
    spec.instanceId = instance.id;
    spec.projectId = instance.projectId;
    spec.agentId = agentId_;
    spec.hostname = instance.name;
    spec.vcpus = type.cpu;
    spec.memoryBytes = type.memoryBytes;
    spec.accelerator = options_.accelerator;
    spec.tcgCacheMiB = options_.accelerator == drivers::Accelerator::Tcg ? options_.tcgCacheMiB : 0;
    spec.rootDisk = root;
    spec.seedIso = seed;
    spec.consoleLog = (options_.consoleLogDir / (instance.id.str() + ".log")).string();
    spec.macAddress = drivers::macAddressFor(instance.id);
    spec.network = options_.network;
    spec.bridge = options_.bridge;
    spec.kernel = image.kernel.string();
    spec.initrd = image.initrd.string();
    spec.cmdline = image.cmdline;
    return spec;
}

}  // namespace gpuhost::agent

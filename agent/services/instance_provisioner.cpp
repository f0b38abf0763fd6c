// InstanceProvisioner: what each transitional state asks of libvirt. Every step is
// idempotent, so a job cut short by a crash is run again from the top by the reconciler.
#include "services/instance_provisioner.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>

#include "log.hpp"

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

asio::awaitable<Result<void>> InstanceProvisioner::provision(Instance instance, bool freshRoot) {
    const auto* type = catalog_.findInstanceType(instance.type);
    auto imageName = model::parseImageReference(instance.image);
    const auto* image = imageName ? catalog_.findImage(*imageName) : nullptr;
    if (type == nullptr || image == nullptr) {
        co_return Error::internal("instance type " + instance.type + " or image " + instance.image +
                                  " is no longer configured");
    }
    auto h = hosts_.indexOf(instance.host);
    const auto& host = hosts_.binding(h);
    auto* hypervisor = host.hypervisor;
    auto name = drivers::domainName(instance.id);
    if (!instance.gpus.empty()) {
        // Before touching disks: while another domain still holds the GPUs, every retry
        // would otherwise recreate the root disk and the seed.
        drivers::DomainSpec devices;
        if (auto placed = hosts_.placeGpus(instance.host, instance.gpus, devices); !placed) {
            co_return placed.error();
        }
        auto check = [name, wanted = devices.hostDevices, hypervisor] {
            return devicesFree(*hypervisor, name, wanted);
        };
        if (auto free = co_await host.pool->run(std::move(check)); !free) {
            co_return free.error();
        }
    }
    // Shared filesystems: mounted on the host before the domain may use them.
    auto attached = attachedFilesystems(filesystems_, instance);
    if (!attached) {
        co_return attached.error();
    }
    // A domain that already runs (a job cut short after its start, or one running while
    // its instance is in error) uses its disks: leave them.
    auto probe = [name, hypervisor, storage = host.storage]() -> Result<bool> {
        auto power = hypervisor->powerState(name);
        if (power && *power == PowerState::Running) {
            return true;
        }
        if (!power && power.error().code != ErrorCode::NotFound) {
            return power.error();
        }
        // The host's pool may not exist yet: a create can come before the first reconcile
        // of its host, and after a host was wiped.
        if (auto pool = storage->ensurePool(); !pool) {
            return pool.error();
        }
        return false;
    };
    auto running = co_await host.pool->run(std::move(probe));
    if (!running) {
        co_return running.error();
    }
    if (*running) {
        co_return Result<void>{};
    }
    auto base = co_await images_.baseVolume(h, *image);
    if (!base) {
        co_return base.error();
    }
    auto disk = [id = instance.id, storage = host.storage, backing = base->path, format = image->format,
                 bytes = type->diskBytes, freshRoot]() -> Result<std::string> {
        auto rootName = rootVolumeName(id);
        auto root = storage->volume(rootName);
        if (!root && root.error().code != ErrorCode::NotFound) {
            return root.error();  // never recreate a disk because of a passing lookup error
        }
        if (!freshRoot && !root) {
            return Error::internal("the root disk volume " + rootName +
                                   " is missing; delete the instance and create it again");
        }
        if (freshRoot) {
            if (auto removed = storage->deleteVolume(rootName); !removed) {
                return removed.error();
            }
            root = storage->createOverlay(rootName, backing, format, bytes);
            if (!root) {
                return root.error();
            }
        }
        return root->path;
    };
    auto root = co_await host.pool->run(std::move(disk));
    if (!root) {
        co_return root.error();
    }
    std::vector<const SeedContributor*> contributors;
    {
        std::lock_guard lock(contributorsMutex_);
        contributors = contributors_;
    }
    auto userData = seedUserData(instance, contributors);
    if (!userData) {
        co_return userData.error();
    }
    drivers::SeedFiles files{std::move(*userData), cloudinit::metaData(instance.id, instance.name),
                             cloudinit::networkConfig(drivers::macAddressFor(instance.id))};
    auto write = [seeds = host.seeds, files = std::move(files), volume = seedVolumeName(instance.id)] {
        return seeds->writeSeed(files, volume);
    };
    auto seed = co_await host.pool->run(std::move(write));
    if (!seed) {
        co_return seed.error();
    }
    if (!table_.stillIn(instance.id, instance.state)) {
        // Superseded (a delete is being admitted): record nothing; whatever was admitted
        // runs next, and if its write failed the reconciler runs this job again.
        co_return Error{ErrorCode::Unavailable, "superseded by a newer request", {}};
    }
    auto spec = domainSpec(instance, *type, *image, *root, *seed);
    for (const auto& filesystem : *attached) {
        spec.sharedDirectories.push_back({filesystem.id.str(), filesystem.mountPoint});
    }
    spec.virtiofsd = options_.virtiofsd;
    if (auto placed = hosts_.placeGpus(instance.host, instance.gpus, spec); !placed) {
        co_return placed.error();
    }
    auto boot = [spec, hypervisor]() -> Result<void> {
        auto name = drivers::domainName(spec.instanceId);
        if (auto defined = hypervisor->defineDomain(spec); !defined) {
            return defined;
        }
        auto state = hypervisor->powerState(name);
        if (state && *state == PowerState::Running) {
            return {};  // a job cut short after the start: nothing left to do
        }
        if (auto free = devicesFree(*hypervisor, name, spec.hostDevices); !free) {
            return free;
        }
        return hypervisor->startDomain(name);
    };
    co_return co_await host.pool->run(std::move(boot));
}

asio::awaitable<Result<void>> InstanceProvisioner::powerOff(Instance instance) {
    auto name = drivers::domainName(instance.id);
    const auto& host = hosts_.binding(hosts_.indexOf(instance.host));
    auto* hypervisor = host.hypervisor;
    auto askToStop = [name, hypervisor]() -> Result<PowerState> {
        auto state = hypervisor->powerState(name);
        if (!state) {
            return state.error().code == ErrorCode::NotFound ? Result<PowerState>(PowerState::ShutOff)
                                                             : state;
        }
        if (*state == PowerState::ShutOff) {
            return state;
        }
        if (auto asked = hypervisor->shutdownDomain(name);
            !asked && asked.error().code != ErrorCode::Conflict) {
            return asked.error();
        }
        return state;
    };
    auto initial = co_await host.pool->run(std::move(askToStop));
    if (!initial) {
        co_return initial.error();
    }
    if (*initial == PowerState::ShutOff) {
        co_return Result<void>{};
    }
    // A clean shutdown first, so the guest can flush its disks; destroy after the timeout.
    auto deadline = std::chrono::steady_clock::now() + options_.shutdownTimeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (std::chrono::steady_clock::now() < deadline && !stopping_.load()) {
        timer.expires_after(std::chrono::milliseconds(250));
        co_await timer.async_wait(asio::use_awaitable);
        auto probe = [name, hypervisor] { return hypervisor->powerState(name); };
        auto state = co_await host.pool->run(std::move(probe));
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
    log::warn("guest ignored the shutdown request; destroying", {{"instance", instance.id.str()}});
    auto destroy = [name, hypervisor] { return ignoreNotFound(hypervisor->destroyDomain(name)); };
    co_return co_await host.pool->run(std::move(destroy));
}

asio::awaitable<Result<void>> InstanceProvisioner::teardown(Instance instance) {
    const auto& host = hosts_.binding(hosts_.indexOf(instance.host));
    auto work = [id = instance.id, &host,
                 consoleLog = options_.consoleLogDir / (instance.id.str() + ".log")]() -> Result<void> {
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
        std::filesystem::remove(consoleLog, ignored);
        return {};
    };
    co_return co_await host.pool->run(std::move(work));
}

drivers::DomainSpec InstanceProvisioner::domainSpec(const Instance& instance, const model::InstanceType& type,
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

void InstanceProvisioner::addContributor(const SeedContributor* contributor) {
    std::lock_guard lock(contributorsMutex_);
    contributors_.push_back(contributor);
}

void InstanceProvisioner::removeContributor(const SeedContributor* contributor) {
    std::lock_guard lock(contributorsMutex_);
    std::erase(contributors_, contributor);
}

}  // namespace gpuhost::agent

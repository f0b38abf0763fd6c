// HostRegistry: hosts (resources, GPU inventory, reachability) and placement over them.
// Placement itself is the pure policy in model/placement.hpp; this file builds its view.
#include "services/host_registry.hpp"

#include <algorithm>
#include <chrono>
#include <set>

#include "log.hpp"

namespace gpuhost::agent {

using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

// A healthy libvirtd answers these in milliseconds (tens over ssh), except the first call
// after it starts, which probes QEMU (seconds). Slow calls after that mean every define and
// start will crawl too: say so, with the usual cause on hosts without udev.
constexpr auto kSlowLibvirt = std::chrono::seconds(2);
constexpr auto kSlowFirstContact = std::chrono::seconds(20);

bool answeredSlowly(std::chrono::steady_clock::duration took, bool firstContact) {
    return took >= (firstContact ? kSlowFirstContact : kSlowLibvirt);
}

void warnSlow(const std::string& host, std::chrono::steady_clock::duration took) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    log::warn("libvirt answered slowly",
              {{"host", host},
               {"ms", std::to_string(ms)},
               {"hint",
                "a frozen or overloaded libvirtd, or /dev/kvm not group kvm 0660 (no udev): then "
                "libvirt re-probes QEMU on every call; scripts/ensure-libvirtd.sh fixes it"}});
}

// The hint for libvirt's usual reason a NAT network does not start on a fresh host.
std::string networkHint(const std::string& network, const std::string& error) {
    if (error.find("dnsmasq") != std::string::npos) {
        return "libvirt's NAT networks need dnsmasq: apt install dnsmasq-base";
    }
    return "virsh net-start " + network + " && virsh net-autostart " + network +
           ", or name a host bridge in libvirt.bridge";
}

}  // namespace

model::PlacementRequest placementRequest(const model::InstanceType& type) {
    return {static_cast<double>(type.cpu), static_cast<double>(type.memoryBytes), type.gpuCount,
            type.gpuModel};
}

HostRegistry::HostRegistry(std::vector<HostBinding> hosts, HostOptions options)
    : options_(std::move(options)) {
    for (auto& binding : hosts) {
        hostByName_[binding.name] = hosts_.size();
        hosts_.push_back(
            HostState{std::move(binding), {}, {}, {}, false, "not contacted yet", {}, false, {}});
    }
}

std::size_t HostRegistry::indexOf(std::string_view name) const {
    auto it = hostByName_.find(name);
    return it == hostByName_.end() ? kNoHost : it->second;
}

bool HostRegistry::anyKnown() const {
    std::shared_lock lock(mutex_);
    return std::any_of(hosts_.begin(), hosts_.end(),
                       [](const HostState& host) { return host.resources.has_value(); });
}

bool HostRegistry::anyUsable() const {
    std::shared_lock lock(mutex_);
    return std::any_of(hosts_.begin(), hosts_.end(), [this](const HostState& host) {
        return host.resources && host.reachable && !hungLocked(host);
    });
}

std::size_t HostRegistry::reachableCount() const {
    std::shared_lock lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(hosts_.begin(), hosts_.end(),
                      [this](const HostState& host) { return host.reachable && !hungLocked(host); }));
}

std::optional<std::string> HostRegistry::hungLocked(const HostState& host) const {
    if (!host.askedSince) {
        return std::nullopt;
    }
    auto waited = std::chrono::steady_clock::now() - *host.askedSince;
    if (waited < kHung) {
        return std::nullopt;
    }
    return "libvirt has not answered for " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(waited).count()) + " s";
}

std::vector<std::optional<std::string>> HostRegistry::troubles() const {
    std::vector<std::optional<std::string>> all;
    std::shared_lock lock(mutex_);
    for (const auto& host : hosts_) {
        auto hung = hungLocked(host);
        all.push_back(hung ? hung : host.reachable ? std::nullopt : std::optional(host.problem));
    }
    return all;
}

void HostRegistry::markUnreachable(std::size_t h, std::string problem) {
    std::unique_lock lock(mutex_);
    hosts_[h].reachable = false;
    hosts_[h].problem = std::move(problem);
}

Result<void> HostRegistry::refreshBlocking(std::size_t h) {
    auto& binding = hosts_[h].binding;
    bool firstContact = false, wasSlow = false;
    auto asked = std::chrono::steady_clock::now();
    {
        std::unique_lock lock(mutex_);
        firstContact = !hosts_[h].resources.has_value();
        wasSlow = hosts_[h].answersSlowly;
        if (!hosts_[h].askedSince) {
            hosts_[h].askedSince = asked;
        }
    }
    auto resources = binding.hypervisor->hostResources();
    auto devices = resources ? binding.hypervisor->pciDevices()
                             : Result<std::vector<model::PciDevice>>(resources.error());
    auto took = std::chrono::steady_clock::now() - asked;
    bool slow = answeredSlowly(took, firstContact);
    if (slow && !wasSlow) {
        warnSlow(binding.name, took);  // once when it starts, not on every resync
    }
    // A fresh libvirt leaves its `default` network inactive, and it stays so after a reboot
    // unless autostarted. A network that cannot start does not make the host unreachable:
    // creates then fail with libvirt's own error, which names the network.
    std::optional<Result<bool>> network;
    if (resources && devices && options_.bridge.empty()) {
        network = binding.hypervisor->ensureNetwork(options_.network);
    }
    std::unique_lock lock(mutex_);
    auto& host = hosts_[h];
    host.askedSince.reset();
    host.answersSlowly = slow;
    if (!resources || !devices) {
        const auto& error = resources ? devices.error() : resources.error();
        host.reachable = false;
        host.problem = error.message;
        return error;
    }
    // Unavailable: the connection dropped meanwhile, which the next refresh reports itself.
    std::string networkProblem = network && !*network && network->error().code != ErrorCode::Unavailable
                                     ? network->error().message
                                     : std::string();
    bool warnNetwork = !networkProblem.empty() && networkProblem != host.networkProblem;
    host.networkProblem = networkProblem;
    auto inventory = model::gpuInventory(*devices);
    bool changed = inventory.gpus.size() != host.inventory.gpus.size() || !host.resources;
    auto gpus = inventory.gpus.size();
    auto nvswitches = inventory.nvswitches.size();
    auto skipped = inventory.skipped;  // logged below from this copy: the host's may be replaced meanwhile
    host.resources = *resources;
    host.inventory = std::move(inventory);
    host.models = model::modelMasks(host.inventory.gpus);
    host.reachable = true;
    host.problem.clear();
    lock.unlock();
    if (network && *network && **network) {
        log::info("started libvirt network", {{"host", binding.name}, {"network", options_.network}});
    }
    if (warnNetwork) {
        log::warn("libvirt network not usable: instances on it will not start",
                  {{"host", binding.name},
                   {"network", options_.network},
                   {"error", networkProblem},
                   {"hint", networkHint(options_.network, networkProblem)}});
    }
    if (changed) {
        log::info("host inventory", {{"host", binding.name},
                                     {"cpus", std::to_string(resources->cpus)},
                                     {"memory_mib", std::to_string(resources->memoryBytes >> 20)},
                                     {"gpus", std::to_string(gpus)},
                                     {"nvswitches", std::to_string(nvswitches)}});
        for (const auto& skipped : skipped) {
            log::warn("GPU not usable for passthrough", {{"host", binding.name}, {"gpu", skipped}});
        }
    }
    return {};
}

std::vector<model::HostView> HostRegistry::viewsLocked(const std::vector<model::Holding>& holdings) const {
    std::vector<model::HostSupply> supply(hosts_.size());
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        const auto& host = hosts_[h];
        supply[h].gpus = &host.inventory.gpus;
        supply[h].models = &host.models;
        supply[h].usable = host.reachable && host.resources.has_value() && !hungLocked(host);
        if (host.resources) {
            const auto& capacity = options_.capacity;
            supply[h].cpus =
                (static_cast<double>(host.resources->cpus) - capacity.reservedCpus) * capacity.cpuOvercommit;
            supply[h].memoryBytes = static_cast<double>(host.resources->memoryBytes) -
                                    static_cast<double>(capacity.reservedMemoryBytes);
        }
    }
    return model::buildViews(supply, holdings);
}

std::vector<model::PciAddress> HostRegistry::addressesLocked(const model::Placement& placement) const {
    std::vector<model::PciAddress> gpus;
    for (auto index : placement.gpus) {
        gpus.push_back(hosts_[placement.host].inventory.gpus[index].address);
    }
    std::sort(gpus.begin(), gpus.end());
    return gpus;
}

std::optional<Admission> HostRegistry::admit(const model::InstanceType& type, bool preemptible,
                                             std::size_t onlyHost,
                                             const std::vector<model::Holding>& holdings,
                                             const std::vector<PreemptibleHolding>& candidates) const {
    std::shared_lock lock(mutex_);
    auto views = viewsLocked(holdings);
    for (std::size_t h = 0; h < views.size(); ++h) {
        views[h].usable = views[h].usable && (onlyHost == kNoHost || h == onlyHost);
    }
    auto request = placementRequest(type);
    if (auto placement = model::place(request, views)) {
        return Admission{placement->host, addressesLocked(*placement), {}};
    }
    if (type.gpuCount == 0 || preemptible) {
        return std::nullopt;
    }
    std::vector<model::PreemptionCandidate> candidatesByKey;
    for (std::size_t key = 0; key < candidates.size(); ++key) {
        const auto& held = candidates[key];
        model::PreemptionCandidate candidate{held.host, key, held.cpus, held.memoryBytes, {}};
        for (const auto& gpu : held.gpus) {
            if (auto index = model::findGpu(hosts_[held.host].inventory.gpus, gpu)) {
                candidate.gpus.push_back(*index);
            }
        }
        candidatesByKey.push_back(std::move(candidate));
    }
    auto preemption = model::placeByPreempting(request, std::move(views), candidatesByKey);
    if (!preemption) {
        return std::nullopt;
    }
    return Admission{preemption->placement.host, addressesLocked(preemption->placement), preemption->victims};
}

std::optional<std::vector<Admission>> HostRegistry::admitGroup(
    const std::vector<const model::InstanceType*>& members,
    const std::vector<model::Holding>& holdings) const {
    std::shared_lock lock(mutex_);
    auto views = viewsLocked(holdings);
    std::vector<Admission> admitted;
    for (const auto* type : members) {
        auto request = placementRequest(*type);
        auto placement = model::place(request, views);
        if (!placement) {
            return std::nullopt;
        }
        auto& view = views[placement->host];
        view.freeCpus -= request.cpus;
        view.freeMemoryBytes -= request.memoryBytes;
        for (auto index : placement->gpus) {
            view.gpuTaken |= model::GpuMask{1} << index;
        }
        admitted.push_back(Admission{placement->host, addressesLocked(*placement), {}});
    }
    return admitted;
}

std::string HostRegistry::shortage(const model::InstanceType& type, std::size_t onlyHost,
                                   const std::vector<model::Holding>& holdings) const {
    std::shared_lock lock(mutex_);
    auto views = viewsLocked(holdings);
    std::string free;
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        if (onlyHost != kNoHost && h != onlyHost) {
            continue;
        }
        unsigned gpus = 0;
        for (std::size_t i = 0; i < hosts_[h].inventory.gpus.size(); ++i) {
            gpus += (views[h].gpuTaken >> i & 1) == 0 && hosts_[h].inventory.gpus[i].model == type.gpuModel
                        ? 1
                        : 0;
        }
        free += (free.empty() ? "" : ", ") + hosts_[h].binding.name + ": " +
                (views[h].usable ? std::to_string(gpus) : std::string("unreachable"));
    }
    if (type.gpuCount > 0) {
        return "not enough free " + type.gpuModel + " GPUs, CPU or memory: " + std::to_string(type.gpuCount) +
               " GPUs needed (free GPUs by host: " + free + ")";
    }
    return onlyHost == kNoHost ? "not enough free CPU or memory on any host"
                               : "not enough free CPU or memory on host " + hosts_[onlyHost].binding.name;
}

Result<std::vector<TypeCapacity>> HostRegistry::capacity(const std::vector<model::InstanceType>& types,
                                                         const std::vector<model::Holding>& holdings) const {
    std::shared_lock lock(mutex_);
    auto views = viewsLocked(holdings);
    if (std::none_of(views.begin(), views.end(), [](const model::HostView& view) { return view.usable; })) {
        return Error{ErrorCode::Unavailable, "no host's resources are known (libvirt unreachable)", {}};
    }
    std::vector<TypeCapacity> result;
    for (const auto& type : types) {
        std::uint64_t fit = 0;
        for (const auto& view : views) {
            fit += model::fitCount(placementRequest(type), view);
        }
        result.push_back({type.name, fit});
    }
    return result;
}

Result<void> HostRegistry::placeGpus(const std::string& hostName, const std::vector<model::PciAddress>& gpus,
                                     drivers::DomainSpec& spec) const {
    if (gpus.empty()) {
        return {};
    }
    auto h = indexOf(hostName);
    if (h == kNoHost) {
        return Error::internal("host " + hostName + " is not configured");
    }
    std::shared_lock lock(mutex_);
    const auto& host = hosts_[h];
    if (!host.resources) {
        return Error{ErrorCode::Unavailable, "host " + hostName + " inventory not known yet", {}};
    }
    std::vector<std::uint64_t> bars;
    std::set<int> nodes;
    for (const auto& address : gpus) {
        auto index = model::findGpu(host.inventory.gpus, address);
        if (!index) {
            return Error::internal("GPU " + address.str() + " is no longer usable on host " + hostName);
        }
        const auto* gpu = &host.inventory.gpus[*index];
        spec.hostDevices.insert(spec.hostDevices.end(), gpu->functions.begin(), gpu->functions.end());
        bars.push_back(gpu->barBytes);
        if (gpu->numaNode >= 0) {
            nodes.insert(gpu->numaNode);
        }
    }
    // The whole board: its NVSwitches go too, so NVLink works between the guest's GPUs.
    if (gpus.size() == host.inventory.gpus.size()) {
        for (const auto& nvswitch : host.inventory.nvswitches) {
            spec.hostDevices.insert(spec.hostDevices.end(), nvswitch.functions.begin(),
                                    nvswitch.functions.end());
        }
    }
    std::sort(spec.hostDevices.begin(), spec.hostDevices.end());
    spec.pciHole64Bytes = model::pciHole64Bytes(bars);
    spec.hugepageBytes = options_.hugepageBytes;
    // vCPUs and memory next to the GPUs when those NUMA nodes hold the whole guest;
    // else the kernel places it (pinning into too small a set would be worse).
    std::vector<unsigned> cpus;
    std::uint64_t memory = 0;
    std::size_t cellsFound = 0;
    for (const auto& cell : host.resources->cells) {
        if (nodes.contains(cell.id)) {
            cpus.insert(cpus.end(), cell.cpus.begin(), cell.cpus.end());
            memory += cell.memoryBytes;
            ++cellsFound;
        }
    }
    if (!nodes.empty() && cellsFound == nodes.size() && cpus.size() >= spec.vcpus &&
        memory >= spec.memoryBytes) {
        spec.cpuset = std::move(cpus);
        spec.memoryNodes.assign(nodes.begin(), nodes.end());
    }
    return {};
}

}  // namespace gpuhost::agent

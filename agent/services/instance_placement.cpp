// InstanceService: hosts (resources, GPU inventory, reachability), placement, GPU
// allocation, preemption and capacity. Placement itself is the pure policy in
// model/placement.hpp; this file builds its view of the hosts under the service's lock.
#include <algorithm>
#include <chrono>
#include <set>

#include "log.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

// States in which an instance holds (or is about to hold) host CPU and memory. Deleting
// counts until the domain is gone: it may still be running.
bool holdsResources(InstanceState state) {
    using enum InstanceState;
    return state == Creating || state == Starting || state == Running || state == Stopping ||
           state == Deleting;
}

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

model::PlacementRequest requestFor(const model::InstanceType& type) {
    return {static_cast<double>(type.cpu), static_cast<double>(type.memoryBytes), type.gpuCount,
            type.gpuModel};
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

InstanceService::~InstanceService() = default;

void InstanceService::watchHosts() {
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        hostEvents_.push_back(std::make_unique<HostEvents>(*this, h));
        hosts_[h].binding.hypervisor->watch(*hostEvents_.back());
    }
}

std::size_t InstanceService::hostIndex(std::string_view name) const {
    auto it = hostByName_.find(name);
    return it == hostByName_.end() ? kNoHost : it->second;
}

bool InstanceService::anyHostKnown() const {
    std::shared_lock lock(mutex_);
    return std::any_of(hosts_.begin(), hosts_.end(),
                       [](const HostState& host) { return host.resources.has_value(); });
}

Result<void> InstanceService::refreshHostBlocking(std::size_t h) {
    auto& binding = hosts_[h].binding;
    bool firstContact = false, wasSlow = false;
    {
        std::shared_lock lock(mutex_);
        firstContact = !hosts_[h].resources.has_value();
        wasSlow = hosts_[h].answersSlowly;
    }
    auto asked = std::chrono::steady_clock::now();
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

std::vector<model::HostView> InstanceService::viewsLocked(const model::Uuid* except) const {
    std::vector<model::HostSupply> supply(hosts_.size());
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        const auto& host = hosts_[h];
        supply[h].gpus = &host.inventory.gpus;
        supply[h].models = &host.models;
        supply[h].usable = host.reachable && host.resources.has_value();
        if (host.resources) {
            const auto& capacity = options_.capacity;
            supply[h].cpus =
                (static_cast<double>(host.resources->cpus) - capacity.reservedCpus) * capacity.cpuOvercommit;
            supply[h].memoryBytes = static_cast<double>(host.resources->memoryBytes) -
                                    static_cast<double>(capacity.reservedMemoryBytes);
        }
    }
    std::vector<model::Holding> holdings;
    holdings.reserve(byId_.size());
    for (const auto& [id, entry] : byId_) {
        auto h = hostIndex(entry.instance.host);
        if (h == kNoHost || (except != nullptr && id == *except)) {
            continue;
        }
        auto state = entry.admitting ? entry.pending : entry.instance.state;
        model::Holding holding{h, 0, 0, &entry.instance.gpus};
        // An instance in error keeps what it holds while it holds GPUs: its domain may run.
        bool holds =
            holdsResources(state) || (state == InstanceState::Failed && !entry.instance.gpus.empty());
        const auto* type = catalog_.findInstanceType(entry.instance.type);
        if (type != nullptr && holds) {
            holding.cpus = type->cpu;
            holding.memoryBytes = static_cast<double>(type->memoryBytes);
        }
        holdings.push_back(holding);
        // A change being written holds both the old and the new GPUs until it commits:
        // GPUs it releases are not handed out before the store agrees.
        if (entry.admitting && entry.pendingGpus) {
            holdings.push_back({h, 0, 0, &*entry.pendingGpus});
        }
    }
    return model::buildViews(supply, holdings);
}

std::vector<model::PreemptionCandidate> InstanceService::candidatesLocked(
    const std::vector<model::HostView>& views, std::vector<model::Uuid>& keys) const {
    std::vector<model::PreemptionCandidate> candidates;
    for (const auto& [id, entry] : byId_) {
        auto h = hostIndex(entry.instance.host);
        const auto* type = catalog_.findInstanceType(entry.instance.type);
        if (!entry.instance.preemptible || entry.admitting ||
            entry.instance.state != InstanceState::Running || h == kNoHost || type == nullptr) {
            continue;
        }
        model::PreemptionCandidate candidate{
            h, keys.size(), static_cast<double>(type->cpu), static_cast<double>(type->memoryBytes), {}};
        const auto& inventory = *views[h].gpus;
        for (const auto& gpu : entry.instance.gpus) {
            if (auto index = model::findGpu(inventory, gpu)) {
                candidate.gpus.push_back(*index);
            }
        }
        candidates.push_back(std::move(candidate));
        keys.push_back(id);
    }
    return candidates;
}

std::optional<InstanceService::Admission> InstanceService::admitLocked(const model::InstanceType& type,
                                                                       bool preemptible, std::size_t onlyHost,
                                                                       const model::Uuid* self) const {
    auto views = viewsLocked(self);
    for (std::size_t h = 0; h < views.size(); ++h) {
        views[h].usable = views[h].usable && (onlyHost == kNoHost || h == onlyHost);
    }
    auto request = requestFor(type);
    auto addresses = [&](const model::Placement& placement) {
        std::vector<model::PciAddress> gpus;
        for (auto index : placement.gpus) {
            gpus.push_back(hosts_[placement.host].inventory.gpus[index].address);
        }
        std::sort(gpus.begin(), gpus.end());
        return gpus;
    };
    if (auto placement = model::place(request, views)) {
        return Admission{placement->host, addresses(*placement), {}};
    }
    if (type.gpuCount == 0 || preemptible) {
        return std::nullopt;
    }
    std::vector<model::Uuid> keys;
    auto candidates = candidatesLocked(views, keys);
    auto preemption = model::placeByPreempting(request, std::move(views), candidates);
    if (!preemption) {
        return std::nullopt;
    }
    Admission admission{preemption->placement.host, addresses(preemption->placement), {}};
    for (auto key : preemption->victims) {
        admission.victims.push_back(keys[key]);
    }
    return admission;
}

std::vector<InstanceUpdate> InstanceService::evictLocked(const Admission& admission, const model::Uuid& by) {
    std::vector<InstanceUpdate> updates;
    for (const auto& victim : admission.victims) {
        auto& entry = byId_.at(victim);
        entry.admitting = true;
        entry.pending = InstanceState::Stopping;
        entry.pendingGpus = std::vector<model::PciAddress>{};  // they pass to `by` now
        updates.push_back({victim, InstanceState::Stopping, entry.instance.ip,
                           "preempted by non-preemptible instance " + by.str(),
                           std::vector<model::PciAddress>{}});
    }
    return updates;
}

void InstanceService::settleEvictions(const std::vector<model::Uuid>& victims, const model::Uuid& by,
                                      bool stored) {
    {
        std::unique_lock lock(mutex_);
        for (const auto& victim : victims) {
            auto it = byId_.find(victim);
            if (it == byId_.end()) {
                continue;
            }
            it->second.admitting = false;
            it->second.pendingGpus.reset();
            if (stored) {
                it->second.instance.state = InstanceState::Stopping;
                it->second.instance.gpus.clear();
                it->second.instance.reason = "preempted by non-preemptible instance " + by.str();
            }
        }
    }
    for (const auto& victim : victims) {
        if (stored) {
            log::info("instance preempted", {{"instance", victim.str()}, {"by", by.str()}});
            schedule(victim, Job::Converge);
        }
    }
}

std::string InstanceService::shortageLocked(const model::InstanceType& type, std::size_t onlyHost) const {
    auto views = viewsLocked();
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

Result<std::vector<TypeCapacity>> InstanceService::capacity() const {
    std::shared_lock lock(mutex_);
    auto views = viewsLocked();
    if (std::none_of(views.begin(), views.end(), [](const model::HostView& view) { return view.usable; })) {
        return Error{ErrorCode::Unavailable, "no host's resources are known (libvirt unreachable)", {}};
    }
    std::vector<TypeCapacity> result;
    for (const auto& type : catalog_.instanceTypes()) {
        std::uint64_t fit = 0;
        for (const auto& view : views) {
            fit += model::fitCount(requestFor(type), view);
        }
        result.push_back({type.name, fit});
    }
    return result;
}

Result<void> InstanceService::placeGpusLocked(const Instance& instance, drivers::DomainSpec& spec) const {
    if (instance.gpus.empty()) {
        return {};
    }
    const auto& host = hosts_[hostIndex(instance.host)];
    if (!host.resources) {
        return Error{ErrorCode::Unavailable, "host " + instance.host + " inventory not known yet", {}};
    }
    std::vector<std::uint64_t> bars;
    std::set<int> nodes;
    for (const auto& address : instance.gpus) {
        auto index = model::findGpu(host.inventory.gpus, address);
        if (!index) {
            return Error::internal("GPU " + address.str() + " is no longer usable on host " + instance.host);
        }
        const auto* gpu = &host.inventory.gpus[*index];
        spec.hostDevices.insert(spec.hostDevices.end(), gpu->functions.begin(), gpu->functions.end());
        bars.push_back(gpu->barBytes);
        if (gpu->numaNode >= 0) {
            nodes.insert(gpu->numaNode);
        }
    }
    // The whole board: its NVSwitches go too, so NVLink works between the guest's GPUs.
    if (instance.gpus.size() == host.inventory.gpus.size()) {
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

// What the API shows: an instance on a host that cannot be reached is in error until
// the host is back (the stored state is kept; reconcile then adopts what libvirt says).
Instance InstanceService::visible(const Instance& instance) const {
    auto h = hostIndex(instance.host);
    if (instance.host.empty() || instance.state == InstanceState::OutOfStock) {
        return instance;
    }
    if (h == kNoHost) {
        Instance shown = instance;
        shown.state = InstanceState::Failed;
        shown.reason = "host " + instance.host + " is not in the agent's configuration";
        return shown;
    }
    if (hosts_[h].reachable) {
        return instance;
    }
    Instance shown = instance;
    shown.state = InstanceState::Failed;
    shown.reason = "host " + instance.host + " is unreachable" +
                   (hosts_[h].problem.empty() ? "" : ": " + hosts_[h].problem);
    return shown;
}

}  // namespace gpuhost::agent

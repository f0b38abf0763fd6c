#include "model/placement.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <tuple>

namespace gpuhost::model {

namespace {

unsigned freeGpus(const HostView& host, std::string_view model) {
    unsigned free = 0;
    if (host.gpus == nullptr) {
        return 0;
    }
    if (host.models != nullptr) {  // the fast path: one string compare per model, not per GPU
        for (const auto& entry : *host.models) {
            if (model.empty() || entry.model == model) {
                free += static_cast<unsigned>(std::popcount(entry.gpus & ~host.gpuTaken));
            }
        }
        return free;
    }
    for (std::size_t i = 0; i < host.gpus->size() && i < kMaxGpusPerHost; ++i) {
        if ((host.gpuTaken >> i & 1) == 0 && (model.empty() || (*host.gpus)[i].model == model)) {
            ++free;
        }
    }
    return free;
}

bool fitsCpuAndMemory(const PlacementRequest& request, const HostView& host) {
    return host.usable && host.freeCpus >= request.cpus && host.freeMemoryBytes >= request.memoryBytes;
}

// Chooses `count` items from groups (each a list of item indices): the smallest group
// that holds them all, else the largest groups first. `fill` refines a chosen group.
template <class Fill>
bool chooseFromGroups(std::vector<std::vector<std::size_t>> groups, unsigned count, Fill fill,
                      std::vector<std::size_t>& chosen) {
    std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    for (const auto& group : groups) {
        if (group.size() >= count) {
            fill(group, count, chosen);
            return true;
        }
    }
    std::size_t total = 0;
    for (const auto& group : groups) {
        total += group.size();
    }
    if (total < count) {
        return false;
    }
    for (auto it = groups.rbegin(); it != groups.rend() && count > 0; ++it) {
        auto take = std::min<std::size_t>(count, it->size());
        fill(*it, static_cast<unsigned>(take), chosen);
        count -= static_cast<unsigned>(take);
    }
    return true;
}

}  // namespace

std::vector<ModelMask> modelMasks(const std::vector<Gpu>& gpus) {
    std::vector<ModelMask> masks;
    for (std::size_t i = 0; i < gpus.size() && i < kMaxGpusPerHost; ++i) {
        auto it = std::find_if(masks.begin(), masks.end(),
                               [&](const ModelMask& m) { return m.model == gpus[i].model; });
        if (it == masks.end()) {
            masks.push_back({gpus[i].model, 0});
            it = masks.end() - 1;
        }
        it->gpus |= GpuMask{1} << i;
    }
    return masks;
}

std::vector<HostView> buildViews(const std::vector<HostSupply>& hosts, const std::vector<Holding>& holdings) {
    std::vector<HostView> views(hosts.size());
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        views[h] =
            HostView{hosts[h].cpus, hosts[h].memoryBytes, hosts[h].gpus, 0, hosts[h].usable, hosts[h].models};
    }
    for (const auto& holding : holdings) {
        auto& view = views[holding.host];
        view.freeCpus -= holding.cpus;
        view.freeMemoryBytes -= holding.memoryBytes;
        if (holding.gpus == nullptr || view.gpus == nullptr) {
            continue;
        }
        for (const auto& address : *holding.gpus) {
            if (auto i = findGpu(*view.gpus, address); i && *i < kMaxGpusPerHost) {
                view.gpuTaken |= GpuMask{1} << *i;
            }
        }
    }
    return views;
}

std::uint64_t fitCount(const PlacementRequest& request, const HostView& host) {
    if (!fitsCpuAndMemory(request, host)) {
        return 0;
    }
    double fit = std::numeric_limits<double>::max();
    if (request.cpus > 0) {
        fit = std::floor(host.freeCpus / request.cpus);
    }
    if (request.memoryBytes > 0) {
        fit = std::min(fit, std::floor(host.freeMemoryBytes / request.memoryBytes));
    }
    if (request.gpuCount > 0) {
        fit = std::min(fit, static_cast<double>(freeGpus(host, request.gpuModel) / request.gpuCount));
    }
    return fit >= static_cast<double>(std::numeric_limits<std::uint32_t>::max())
               ? std::numeric_limits<std::uint32_t>::max()
               : static_cast<std::uint64_t>(fit);
}

std::optional<std::vector<std::size_t>> pickGpus(const std::vector<Gpu>& gpus, GpuMask taken, unsigned count,
                                                 std::string_view model) {
    std::map<int, std::map<std::string, std::vector<std::size_t>>> byNode;  // node → switch → gpus
    for (std::size_t i = 0; i < gpus.size() && i < kMaxGpusPerHost; ++i) {
        if ((taken >> i & 1) == 0 && gpus[i].model == model) {
            byNode[gpus[i].numaNode][gpus[i].pcieSwitch].push_back(i);
        }
    }
    std::vector<std::vector<std::size_t>> nodes;
    for (const auto& [node, switches] : byNode) {
        nodes.emplace_back();
        for (const auto& [name, members] : switches) {
            nodes.back().insert(nodes.back().end(), members.begin(), members.end());
        }
    }
    auto takeBySwitch = [&](const std::vector<std::size_t>& node, unsigned want,
                            std::vector<std::size_t>& out) {
        std::map<std::string, std::vector<std::size_t>> switches;
        for (auto index : node) {
            switches[gpus[index].pcieSwitch].push_back(index);
        }
        std::vector<std::vector<std::size_t>> groups;
        for (auto& [name, members] : switches) {
            groups.push_back(std::move(members));
        }
        chooseFromGroups(
            std::move(groups), want,
            [](const std::vector<std::size_t>& group, unsigned n, std::vector<std::size_t>& into) {
                into.insert(into.end(), group.begin(), group.begin() + n);
            },
            out);
    };
    std::vector<std::size_t> chosen;
    if (count == 0 || !chooseFromGroups(std::move(nodes), count, takeBySwitch, chosen)) {
        return std::nullopt;
    }
    std::sort(chosen.begin(), chosen.end());
    return chosen;
}

std::optional<Placement> place(const PlacementRequest& request, const std::vector<HostView>& hosts) {
    std::optional<std::tuple<unsigned, double, std::size_t>> best;
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const auto& host = hosts[h];
        if (!fitsCpuAndMemory(request, host)) {
            continue;
        }
        unsigned leftGpus = 0;
        if (request.gpuCount > 0) {
            auto free = freeGpus(host, request.gpuModel);
            if (free < request.gpuCount) {
                continue;
            }
            leftGpus = free - request.gpuCount;
        } else {
            leftGpus = freeGpus(host, {});
        }
        std::tuple key{leftGpus, host.freeMemoryBytes - request.memoryBytes, h};
        if (!best || key < *best) {
            best = key;
        }
    }
    if (!best) {
        return std::nullopt;
    }
    Placement placement{std::get<2>(*best), {}};
    if (request.gpuCount > 0) {
        const auto& host = hosts[placement.host];
        auto gpus = pickGpus(*host.gpus, host.gpuTaken, request.gpuCount, request.gpuModel);
        if (!gpus) {
            return std::nullopt;
        }
        placement.gpus = std::move(*gpus);
    }
    return placement;
}

std::optional<Preemption> placeByPreempting(const PlacementRequest& request, std::vector<HostView> hosts,
                                            const std::vector<PreemptionCandidate>& candidates) {
    // Per host, every subset of its candidates (at most 16: those holding the most GPUs)
    // is tried: the fewest victims win, then the fewest GPUs taken from them. A host has
    // few GPU instances, so this stays cheap, and unlike a greedy pass it never stops a
    // 4-GPU instance where a 1-GPU one would do.
    constexpr std::size_t kMaxCandidates = 16;
    std::optional<Preemption> best;
    std::pair<int, int> bestCost{0, 0};
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        if (!hosts[h].usable) {
            continue;
        }
        std::vector<const PreemptionCandidate*> onHost;
        for (const auto& candidate : candidates) {
            if (candidate.host == h) {
                onHost.push_back(&candidate);
            }
        }
        std::stable_sort(onHost.begin(), onHost.end(),
                         [](const auto* a, const auto* b) { return a->gpus.size() > b->gpus.size(); });
        if (onHost.size() > kMaxCandidates) {
            onHost.resize(kMaxCandidates);
        }
        std::vector<GpuMask> masks;
        for (const auto* candidate : onHost) {
            GpuMask mask = 0;
            for (auto gpu : candidate->gpus) {
                mask |= GpuMask{1} << gpu;
            }
            masks.push_back(mask);
        }
        std::optional<std::uint32_t> chosen;
        std::pair<int, int> chosenCost{0, 0};
        for (std::uint32_t subset = 1; subset < (1u << onHost.size()); ++subset) {
            HostView freed = hosts[h];
            GpuMask released = 0;
            for (std::size_t c = 0; c < onHost.size(); ++c) {
                if (subset >> c & 1) {
                    freed.freeCpus += onHost[c]->cpus;
                    freed.freeMemoryBytes += onHost[c]->memoryBytes;
                    released |= masks[c];
                }
            }
            std::pair<int, int> cost{std::popcount(subset), std::popcount(released)};
            if ((chosen && cost >= chosenCost) || (best && cost >= bestCost)) {
                continue;
            }
            freed.gpuTaken &= ~released;
            if (fitCount(request, freed) > 0) {
                chosen = subset;
                chosenCost = cost;
            }
        }
        if (!chosen) {
            continue;
        }
        HostView freed = hosts[h];
        std::vector<std::size_t> victims;
        for (std::size_t c = 0; c < onHost.size(); ++c) {
            if (*chosen >> c & 1) {
                freed.freeCpus += onHost[c]->cpus;
                freed.freeMemoryBytes += onHost[c]->memoryBytes;
                freed.gpuTaken &= ~masks[c];
                victims.push_back(onHost[c]->key);
            }
        }
        if (auto placement = place(request, {freed})) {
            best = Preemption{{h, std::move(placement->gpus)}, std::move(victims)};
            bestCost = chosenCost;
        }
    }
    return best;
}

}  // namespace gpuhost::model

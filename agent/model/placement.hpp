#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "model/gpu.hpp"

namespace gpuhost::model {

/// GPUs of one host as a bit set (bit i: the host's GPU i); hosts have at most 64.
using GpuMask = std::uint64_t;
inline constexpr std::size_t kMaxGpusPerHost = 64;

/// The GPUs of one model on a host (hosts usually have one model: a one-entry list).
struct ModelMask {
    std::string model;
    GpuMask gpus = 0;
};
std::vector<ModelMask> modelMasks(const std::vector<Gpu>& gpus);

/// One host as placement sees it: what is free on it now. Trivially copyable: views of
/// a thousand hosts are rebuilt per admission without allocating.
struct HostView {
    double freeCpus = 0;
    double freeMemoryBytes = 0;
    const std::vector<Gpu>* gpus = nullptr;          // the host's inventory (null: none)
    GpuMask gpuTaken = 0;                            // bit i: (*gpus)[i] is held
    bool usable = true;                              // false: unreachable or resources unknown
    const std::vector<ModelMask>* models = nullptr;  // modelMasks(*gpus): null computes it per call
};

/// What a host has before anything is placed on it.
struct HostSupply {
    const std::vector<Gpu>* gpus = nullptr;
    const std::vector<ModelMask>* models = nullptr;  // modelMasks(*gpus), kept with the inventory
    double cpus = 0;                                 // after reservations and overcommit
    double memoryBytes = 0;
    bool usable = true;
};

/// What one instance holds on a host.
struct Holding {
    std::size_t host = 0;
    double cpus = 0;
    double memoryBytes = 0;
    const std::vector<PciAddress>* gpus = nullptr;  // may be null
};

/// The hosts' free resources: supply minus holdings (GPUs not in a host's inventory are ignored).
std::vector<HostView> buildViews(const std::vector<HostSupply>& hosts, const std::vector<Holding>& holdings);

struct PlacementRequest {
    double cpus = 0;
    double memoryBytes = 0;
    unsigned gpuCount = 0;
    std::string_view gpuModel;
};

/// Where an instance goes: a host index and indices into that host's GPUs.
struct Placement {
    std::size_t host = 0;
    std::vector<std::size_t> gpus;
};

/// How many instances of `request` fit on `host` now.
std::uint64_t fitCount(const PlacementRequest& request, const HostView& host);

/// `count` free GPUs of `model`, as close together as the free ones allow: on one NUMA
/// node if any node has enough (the fullest such node), and within it under one PCIe
/// switch if one has enough (the fullest such switch); else the largest groups first.
std::optional<std::vector<std::size_t>> pickGpus(const std::vector<Gpu>& gpus, GpuMask taken, unsigned count,
                                                 std::string_view model);

/// The placement policy: among hosts where the request fits, best fit on GPUs (the
/// host left with the fewest free GPUs of the model, so whole hosts stay free for
/// 8-GPU types; CPU-only types prefer hosts with the fewest free GPUs of any model),
/// then best fit on memory, then the first host in configuration order.
std::optional<Placement> place(const PlacementRequest& request, const std::vector<HostView>& hosts);

/// A preemptible instance holding resources: what stopping it would free.
struct PreemptionCandidate {
    std::size_t host = 0;
    std::size_t key = 0;  // the caller's handle for it
    double cpus = 0;
    double memoryBytes = 0;
    std::vector<std::size_t> gpus;  // indices into its host's GPUs
};

struct Preemption {
    Placement placement;
    std::vector<std::size_t> victims;  // candidates' keys
};

/// When `request` fits nowhere: the host where stopping the fewest candidates (then the
/// fewest GPUs) makes it fit, with those candidates and the placement that results
/// (every subset of up to 16 candidates per host is considered).
std::optional<Preemption> placeByPreempting(const PlacementRequest& request, std::vector<HostView> hosts,
                                            const std::vector<PreemptionCandidate>& candidates);

}  // namespace gpuhost::model

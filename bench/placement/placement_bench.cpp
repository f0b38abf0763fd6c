// Placement decisions per second on a large region: 1,000 HGX hosts × 8 H100 GPUs with a
// realistic mix of GPU and CPU types, churning at ~90 % GPU utilisation. Compares the
// agent's policy (model/placement.hpp: best fit, NUMA/switch-aware GPU choice) with a
// naive first-fit baseline on the same request sequence, and also times the path the
// daemon takes per admission (rebuild every host's view from all instances, then place).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "model/placement.hpp"

using namespace gpuhost::model;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kGiB = 1024.0 * 1024 * 1024;

struct Type {
    const char* name;
    double cpus;
    double memory;
    unsigned gpus;
    unsigned weight;  // share of requests, in percent
};

const std::vector<Type> kMix{{"h100.1x", 24, 200 * kGiB, 1, 40},
                             {"h100.2x", 48, 400 * kGiB, 2, 15},
                             {"h100.4x", 96, 900 * kGiB, 4, 10},
                             {"h100.8x", 192, 1800 * kGiB, 8, 15},
                             {"cpu.medium", 8, 32 * kGiB, 0, 20}};

std::vector<Gpu> hgxBoard() {
    std::vector<Gpu> gpus;
    for (unsigned i = 0; i < 8; ++i) {
        PciAddress address{0, static_cast<std::uint8_t>(0x18 + 0x20 * i), 0, 0};
        gpus.push_back({address,
                        "H100-SXM5-80GB",
                        static_cast<int>(i / 4),
                        "switch" + std::to_string(i / 2),
                        {address},
                        128ull << 30});
    }
    return gpus;
}

struct Live {
    std::size_t host;
    std::size_t type;
    std::vector<std::size_t> gpus;
    std::vector<PciAddress> addresses;  // what the daemon stores per instance
};

struct Result {
    double seconds = 0;
    std::size_t decisions = 0, placed = 0, bigAsked = 0, bigRejected = 0;
};

using Policy = std::optional<Placement> (*)(const PlacementRequest&, const std::vector<HostView>&);

std::optional<Placement> firstFit(const PlacementRequest& request, const std::vector<HostView>& hosts) {
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const auto& host = hosts[h];
        if (host.freeCpus < request.cpus || host.freeMemoryBytes < request.memoryBytes) {
            continue;
        }
        Placement placement{h, {}};
        for (std::size_t i = 0; i < host.gpus->size() && placement.gpus.size() < request.gpuCount; ++i) {
            if ((host.gpuTaken >> i & 1) == 0) {
                placement.gpus.push_back(i);
            }
        }
        if (placement.gpus.size() == request.gpuCount) {  // (a naive pick: no NUMA or switch preference)
            return placement;
        }
    }
    return std::nullopt;
}

// Churn: place requests in the mix; above the target utilisation, release a random
// live instance first. `rebuild` times the daemon's path (views rebuilt from holdings).
Result simulate(Policy policy, std::size_t hostCount, std::size_t decisions, bool rebuild, unsigned seed,
                double target) {
    auto board = hgxBoard();
    auto models = modelMasks(board);
    std::vector<HostSupply> supply(hostCount, HostSupply{&board, &models, 224, 2048 * kGiB, true});
    auto views = buildViews(supply, {});
    std::vector<Live> live;
    std::mt19937_64 random(seed);
    std::discrete_distribution<std::size_t> pick({40, 15, 10, 15, 20});
    std::size_t gpusTaken = 0, totalGpus = hostCount * 8;
    Result result;
    Clock::duration spent{};
    for (std::size_t d = 0; d < decisions; ++d) {
        while (!live.empty() && static_cast<double>(gpusTaken) > target * static_cast<double>(totalGpus)) {
            auto victim = random() % live.size();
            const auto& gone = live[victim];
            const auto& type = kMix[gone.type];
            views[gone.host].freeCpus += type.cpus;
            views[gone.host].freeMemoryBytes += type.memory;
            for (auto g : gone.gpus) {
                views[gone.host].gpuTaken &= ~(GpuMask{1} << g);
            }
            gpusTaken -= gone.gpus.size();
            live[victim] = live.back();
            live.pop_back();
        }
        auto t = pick(random);
        const auto& type = kMix[t];
        PlacementRequest request{type.cpus, type.memory, type.gpus, type.gpus > 0 ? "H100-SXM5-80GB" : ""};
        auto start = Clock::now();
        if (rebuild) {
            std::vector<Holding> holdings;
            holdings.reserve(live.size());
            for (const auto& instance : live) {
                holdings.push_back({instance.host, kMix[instance.type].cpus, kMix[instance.type].memory,
                                    &instance.addresses});
            }
            views = buildViews(supply, holdings);
        }
        auto placement = policy(request, views);
        spent += Clock::now() - start;
        ++result.decisions;
        if (type.gpus == 8) {
            ++result.bigAsked;
            result.bigRejected += placement ? 0 : 1;
        }
        if (!placement) {
            continue;
        }
        ++result.placed;
        auto& view = views[placement->host];
        view.freeCpus -= type.cpus;
        view.freeMemoryBytes -= type.memory;
        for (auto g : placement->gpus) {
            view.gpuTaken |= GpuMask{1} << g;
        }
        gpusTaken += placement->gpus.size();
        std::vector<PciAddress> addresses;
        for (auto g : placement->gpus) {
            addresses.push_back(board[g].address);
        }
        live.push_back({placement->host, t, placement->gpus, std::move(addresses)});
    }
    result.seconds = std::chrono::duration<double>(spent).count();
    return result;
}

void report(const char* label, const Result& r) {
    std::printf("%-34s %10.0f decisions/s  (%zu decisions, %.3f s; 8-GPU requests rejected: %.1f %%)\n",
                label, static_cast<double>(r.decisions) / r.seconds, r.decisions, r.seconds,
                100.0 * static_cast<double>(r.bigRejected) /
                    static_cast<double>(std::max<std::size_t>(r.bigAsked, 1)));
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t hosts = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000;
    std::size_t decisions = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100000;
    double target = argc > 3 ? std::strtod(argv[3], nullptr) : 0.97;
    std::printf(
        "placement: %zu hosts x 8 H100, mix 1x 40%% / 2x 15%% / 4x 10%% / 8x 15%% / cpu 20%%, churn at "
        "%.0f%% GPUs\n",
        hosts, target * 100);
    auto best = simulate(place, hosts, decisions, false, 42, target);
    auto naive = simulate(firstFit, hosts, decisions, false, 42, target);
    auto daemon = simulate(place, hosts, decisions / 20, true, 42, target);
    report("gpuhost policy (best fit)", best);
    report("baseline: first fit", naive);
    report("gpuhost policy + view rebuild", daemon);
    std::printf("ratio policy/first-fit: %.2f   goal: >= 10,000 decisions/s with the rebuild: %s\n",
                (static_cast<double>(best.decisions) / best.seconds) /
                    (static_cast<double>(naive.decisions) / naive.seconds),
                static_cast<double>(daemon.decisions) / daemon.seconds >= 10000 ? "met" : "NOT met");
    return 0;
}

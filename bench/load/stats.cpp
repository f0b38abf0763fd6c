#include "stats.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace gpuhost::bench {

namespace {

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(rank, sorted.size() - 1)];
}

void printRow(const char* name, std::vector<double> latencies, const std::array<std::uint64_t, 4>& outcomes,
              double seconds) {
    std::sort(latencies.begin(), latencies.end());
    std::printf("  %-22s %8zu %8.1f/s %8llu %6llu %6llu %6llu %9.2f %9.2f %9.2f\n", name, latencies.size(),
                static_cast<double>(latencies.size()) / seconds, static_cast<unsigned long long>(outcomes[0]),
                static_cast<unsigned long long>(outcomes[1]), static_cast<unsigned long long>(outcomes[2]),
                static_cast<unsigned long long>(outcomes[3]), percentile(latencies, 0.50),
                percentile(latencies, 0.99), latencies.empty() ? 0.0 : latencies.back());
}

}  // namespace

const char* kindName(Kind kind) {
    static constexpr const char* kNames[kKinds] = {"GET /instances/{id}", "GET /instances",
                                                   "GET /projects/{id}", "POST /instances",
                                                   "DELETE /instances/{id}"};
    return kNames[static_cast<std::size_t>(kind)];
}

void Stats::record(Kind kind, Outcome outcome, Clock::duration latency, int status, const std::string& body) {
    auto& slot = kinds_[static_cast<std::size_t>(kind)];
    slot.latencyMs.push_back(std::chrono::duration<double, std::milli>(latency).count());
    ++slot.outcomes[static_cast<std::size_t>(outcome)];
    if (outcome == Outcome::Error) {
        ++errorSamples_[std::string(kindName(kind)) + " " + std::to_string(status) + " " +
                        body.substr(0, 100)];
    }
}

void Stats::reset() {
    *this = Stats{};
}

std::uint64_t Stats::errors() const {
    std::uint64_t total = 0;
    for (const auto& slot : kinds_) {
        total += slot.outcomes[static_cast<std::size_t>(Outcome::Error)];
    }
    return total;
}

std::uint64_t Stats::answered() const {
    std::uint64_t total = 0;
    for (const auto& slot : kinds_) {
        total += slot.latencyMs.size();
    }
    return total;
}

void Stats::print(const char* title, double seconds) const {
    std::printf("%s (%.1f s)\n", title, seconds);
    std::printf("  %-22s %8s %10s %8s %6s %6s %6s %9s %9s %9s\n", "request", "answers", "rate", "ok", "retry",
                "raced", "errors", "p50_ms", "p99_ms", "max_ms");
    std::vector<double> all;
    std::array<std::uint64_t, 4> totals{};
    for (std::size_t k = 0; k < kKinds; ++k) {
        const auto& slot = kinds_[k];
        if (slot.latencyMs.empty()) {
            continue;
        }
        printRow(kindName(static_cast<Kind>(k)), slot.latencyMs, slot.outcomes, seconds);
        all.insert(all.end(), slot.latencyMs.begin(), slot.latencyMs.end());
        for (std::size_t o = 0; o < totals.size(); ++o) {
            totals[o] += slot.outcomes[o];
        }
    }
    printRow("all", std::move(all), totals, seconds);
    for (const auto& [sample, count] : errorSamples_) {
        std::printf("  error x%llu: %s\n", static_cast<unsigned long long>(count), sample.c_str());
    }
}

long residentKiB(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

}  // namespace gpuhost::bench

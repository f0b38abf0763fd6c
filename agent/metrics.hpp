#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace gpuhost::agent {

/// A Prometheus histogram with fixed latency buckets (seconds).
class LatencyHistogram {
  public:
    static constexpr std::array<double, 14> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
    void observe(double seconds);
    void render(std::string& out, std::string_view name, std::string_view labels) const;

  private:
    std::array<std::uint64_t, kBuckets.size()> counts_{};
    std::uint64_t total_ = 0;
    double sum_ = 0;
};

/// One gauge sample: e.g. kind="project", state="active" → 3.
struct ResourceCount {
    std::string kind;
    std::string state;
    std::uint64_t count = 0;
};

/// Process-wide metrics in Prometheus text format (version 0.0.4).
class Metrics {
  public:
    using ResourceCounter = std::function<std::vector<ResourceCount>()>;

    /// `route`, `method` and `operation` must have static storage duration (route
    /// templates, verb names, literals): they are kept as keys without copying, which
    /// keeps the per-request cost to a lock and two lookups.
    void observeRequest(std::string_view route, std::string_view method, unsigned status, double seconds);
    void observeStore(std::string_view operation, double seconds);
    /// Registers a source of resources-by-state counts; called at each scrape.
    void addResourceCounter(ResourceCounter counter);

    std::string render() const;

  private:
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string_view, std::string_view, unsigned>, std::uint64_t> requests_;
    std::map<std::string_view, LatencyHistogram> requestLatency_;
    std::map<std::string_view, LatencyHistogram> storeLatency_;
    std::vector<ResourceCounter> resourceCounters_;
};

}  // namespace gpuhost::agent

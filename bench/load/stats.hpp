// Latency and outcome accounting for the load benchmark: every answer is recorded with
// its latency from the *intended* send time (so a stalled server cannot hide its stall
// by slowing the client down: no coordinated omission), per request kind.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gpuhost::bench {

using Clock = std::chrono::steady_clock;

enum class Kind { GetInstance, ListInstances, GetProject, Create, Delete };
inline constexpr std::size_t kKinds = 5;
const char* kindName(Kind kind);

enum class Outcome {
    Ok,
    Retryable,  // a documented "retry" answer (503 "the instance is busy; retry")
    Raced,      // GET of an instance this client had just deleted: 404 is the right answer
    Error,      // any 5xx, I/O failure or status the API does not promise for this request
};

class Stats {
  public:
    void record(Kind kind, Outcome outcome, Clock::duration latency, int status, const std::string& body);
    void reset();
    /// One line per kind and a total: count, outcomes, p50/p99/max in ms, achieved req/s.
    void print(const char* title, double seconds) const;
    std::uint64_t errors() const;
    std::uint64_t answered() const;

  private:
    struct PerKind {
        std::vector<double> latencyMs;
        std::array<std::uint64_t, 4> outcomes{};
    };
    std::array<PerKind, kKinds> kinds_;
    std::map<std::string, std::uint64_t> errorSamples_;  // "kind status body…" → count
};

/// The resident set of a process in KiB (VmRSS of /proc/<pid>/status), or -1.
long residentKiB(int pid);

}  // namespace gpuhost::bench

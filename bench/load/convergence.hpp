// What the load benchmark checks and samples besides latency: that the API converges to
// what it acknowledged, and the daemon's resident memory over time.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "http_connection.hpp"
#include "stats.hpp"

namespace gpuhost::bench {

struct Convergence {
    bool ok = false;
    double seconds = 0;
    std::size_t notRunning = 0;  // acknowledged, listed, but not (yet) running
    std::size_t missing = 0;     // acknowledged, not listed
    std::size_t lingering = 0;   // acknowledged deleted, still listed
    std::size_t unknown = 0;     // listed, but never acknowledged to this client (informational)
};

/// Lists every project's instances until each live one (id → project) is listed and
/// running and no deleted one is listed, or the timeout passes.
boost::asio::awaitable<Convergence> converge(HttpConnection& control, const std::string& token,
                                             const std::vector<std::string>& projects,
                                             const std::map<std::string, std::string>& live,
                                             const std::set<std::string>& deleted, Clock::duration timeout);

/// Reads a process's RSS once a second until stopped; stop() gives the largest value.
class RssSampler {
  public:
    RssSampler(boost::asio::any_io_executor executor, int pid);
    long stop();
    const std::vector<long>& samples() const;  // KiB, one a second

  private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace gpuhost::bench

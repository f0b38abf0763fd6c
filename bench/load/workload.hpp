// The mixed workload: mostly reads of instances and projects, plus a steady stream of
// creates and of deletes of instances that have been seen running. It keeps the client's
// view of what the API acknowledged, which the convergence check compares at the end.
#pragma once

#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "open_loop.hpp"
#include "stats.hpp"

namespace gpuhost::bench {

/// Shares of all requests, per request kind; the rest are GET /instances/{id}.
struct Mix {
    double creates = 0;
    double deletes = 0;
    double lists = 0;     // GET /instances of one project
    double projects = 0;  // GET /projects/{id}
};

class Workload {
  public:
    Workload(std::string token, std::vector<std::string> projects, std::string instanceType);

    void setMix(Mix mix) { mix_ = mix; }
    Stats& stats() { return stats_; }

    /// An instance the API acknowledged outside the driven load (the seed).
    void adopt(const std::string& id, const std::string& project, bool running);

    Planned next(Clock::time_point due);
    void answered(const Planned& planned, const Response& response, Clock::duration latency);

    /// Acknowledged and not acknowledged deleted: id → project.
    std::map<std::string, std::string> live() const;
    const std::set<std::string>& deleted() const { return deleted_; }
    std::uint64_t deletesWithoutCandidate() const { return noCandidate_; }

  private:
    struct Tracked {
        std::string project;
        bool running = false;
        bool deleteSent = false;
    };

    Planned getInstance(Clock::time_point due);
    Planned create(Clock::time_point due);
    Planned remove(Clock::time_point due);  // falls back to a GET when nothing is deletable
    Planned ofProject(Kind kind, Clock::time_point due);
    void addReadable(const std::string& id);
    void dropReadable(const std::string& id);
    Outcome onGetInstance(const Planned& planned, const Response& response);
    Outcome onCreate(const Planned& planned, const Response& response);
    Outcome onDelete(const Planned& planned, const Response& response);

    std::string token_;
    std::vector<std::string> projects_;
    std::string instanceType_;
    Mix mix_;
    std::mt19937_64 random_{42};
    std::unordered_map<std::string, Tracked> instances_;  // acknowledged, not acknowledged deleted
    std::vector<std::string> readable_;                   // of those, the ones not being deleted
    std::unordered_map<std::string, std::size_t> readableAt_;
    std::vector<std::string> deletable_;  // seen running, oldest first (a queue)
    std::size_t deletableHead_ = 0;
    std::set<std::string> deleted_;
    std::uint64_t created_ = 0;
    std::uint64_t noCandidate_ = 0;
    Stats stats_;
};

}  // namespace gpuhost::bench

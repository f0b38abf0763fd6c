#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::drivers {

struct ProcessResult {
    int exitCode = -1;   // -1 when killed by a signal or the timeout
    std::string output;  // stdout and stderr, interleaved, capped at 64 KiB
    bool timedOut = false;
};

/// Runs argv[0] (looked up in PATH) with the given arguments, without a shell, so no
/// argument is ever interpreted. Blocking: call it through the blocking pool.
/// Errors only when the process cannot be started; a non-zero exit is a result.
model::Result<ProcessResult> runProcess(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Called once per process, the first time a helper cannot be reniced (setpriority refused,
/// e.g. by a unit's syscall filter); the helper then runs at normal priority. The daemon logs
/// it. Set it at start-up, before any process runs.
void setReniceFailureHandler(std::function<void(int error)> handler);

}  // namespace gpuhost::drivers

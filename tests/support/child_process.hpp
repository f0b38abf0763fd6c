#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace gpuhost::test {

/// A process started from an argv (no shell), stdin from /dev/null and stdout/stderr into
/// files; killed (SIGKILL) and reaped when this object goes, so a failing test leaves none.
class ChildProcess {
  public:
    /// `environment` as "NAME=value" entries; argv[0] is an absolute path.
    ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                 const std::filesystem::path& stdoutFile, const std::filesystem::path& stderrFile);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// Whether it has ended (reaped); `exitCode()` is then its status, -signal when killed.
    bool exited();
    int exitCode() const { return exitCode_; }
    /// Waits until it ends or `timeout` passes (then kills it); false on timeout.
    bool waitFor(std::chrono::milliseconds timeout);

  private:
    pid_t pid_ = -1;
    int exitCode_ = -1;
};

/// What a finished command left.
struct CommandResult {
    int exitCode = -1;
    bool timedOut = false;
    std::string out;
    std::string err;
};

/// Runs argv to completion (killed after `timeout`), stdout and stderr captured via files in `dir`.
CommandResult runCommand(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                         const std::filesystem::path& dir, std::chrono::milliseconds timeout);

/// This process's environment with `overrides` ("NAME=value") replacing or adding entries and
/// the names in `removed` left out.
std::vector<std::string> environmentWith(const std::vector<std::string>& overrides,
                                         const std::vector<std::string>& removed = {});

std::string readText(const std::filesystem::path& file);

}  // namespace gpuhost::test

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::drivers {

/// A program to run inside a guest: never through a shell, so no argument is interpreted.
struct GuestCommand {
    std::vector<std::string> argv;  // argv[0]: the program, an absolute path or a name in the guest's PATH
    std::string input;              // bytes for its stdin (closed after them)
    std::optional<std::vector<std::string>> env;  // "NAME=value" each; the agent's own when absent
};

/// What the guest agent reports about a started program. While `exited` is false the
/// other fields are empty: qemu-guest-agent hands the output over only once it exited.
struct GuestExecStatus {
    bool exited = false;
    std::optional<int> exitCode;  // set when it exited normally
    std::optional<int> signal;    // set when a signal ended it
    std::string stdOut;
    std::string stdErr;
    bool stdOutTruncated = false;  // the agent's own cap (16 MiB in qemu-guest-agent)
    bool stdErrTruncated = false;
};

/// The QEMU guest agent of a domain, one agent command per call. Blocking (libvirt calls):
/// call it through the blocking pool; waiting for a program to finish is the caller's
/// (agent/services/guest_exec.hpp polls on timers). Errors: NotFound when the domain does
/// not exist, Conflict when it is not running, Unavailable while its agent does not answer
/// (still booting, not installed, hung), Internal for anything else, including the agent
/// refusing a command (e.g. a program that does not exist), with the agent's message.
class GuestAgent {
  public:
    virtual ~GuestAgent() = default;

    /// guest-ping: the agent answers.
    virtual model::Result<void> ping(const std::string& domain) = 0;
    /// guest-exec with captured output: starts the program and returns its guest pid.
    virtual model::Result<std::int64_t> startExec(const std::string& domain, const GuestCommand& command) = 0;
    /// guest-exec-status. Once it reports `exited`, the agent forgets the pid.
    virtual model::Result<GuestExecStatus> execStatus(const std::string& domain, std::int64_t pid) = 0;
};

}  // namespace gpuhost::drivers

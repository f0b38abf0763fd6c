#pragma once

// Running programs and writing files inside a guest through its QEMU guest agent, as
// coroutines. Each agent command is one blocking call on the host's blocking pool; the
// waits between status polls are timers on the caller's executor, so no pool thread is
// held while a guest program runs (a cluster bootstrap may run many at once).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "blocking_pool.hpp"
#include "guest_agent.hpp"
#include "model/error.hpp"

namespace gpuhost::agent {

/// Whose guest agent to talk to: a domain on one host, through that host's pool.
struct GuestTarget {
    drivers::GuestAgent* agent = nullptr;
    BlockingPool* pool = nullptr;
    std::string domain;
};

/// How exec polls and what it keeps.
struct GuestExecLimits {
    std::size_t outputCap = std::size_t{1} << 20;  // per stream; the rest is dropped and reported
    std::size_t inputCap = std::size_t{2} << 20;   // stdin travels base64 in one libvirt message
    std::chrono::milliseconds firstPoll{100};      // doubling up to maxPoll: short commands
    std::chrono::milliseconds maxPoll{1000};       // answer fast, long ones cost few round trips
    std::chrono::milliseconds reapWait{5000};      // after a kill: how long to wait for the signal
};

/// What a guest program did.
struct ExecResult {
    std::optional<int> exitCode;  // set when it exited
    std::optional<int> signal;    // set when a signal ended it (also after a timeout's kill)
    std::string stdOut;
    std::string stdErr;
    bool stdOutTruncated = false;  // cut at GuestExecLimits::outputCap (or by the agent)
    bool stdErrTruncated = false;
    bool timedOut = false;  // it ran past the timeout and was sent SIGKILL
    bool succeeded() const { return exitCode == 0 && !timedOut; }
};

/// A file for writeFile: written whole (never through a shell), created with `mode`
/// and owned by owner:group, parent directories created (root, 0755) where missing.
struct GuestFile {
    std::string path{};   // absolute, no NUL
    std::string bytes{};  // at most GuestExecLimits::inputCap
    unsigned mode = 0600;
    std::string owner = "root";  // [a-z_][a-z0-9_-]*, at most 32 characters
    std::string group = "root";
};

/// An argv from strings and literals. Inside a coroutine, write `exec(t, guestArgv("a", b), …)`
/// rather than a braced list: g++ 12 miscompiles initializer lists of mixed literals in a
/// co_await operand ("array used as initializer").
template <class... Args>
std::vector<std::string> guestArgv(Args&&... args) {
    std::vector<std::string> argv;
    argv.reserve(sizeof...(args));
    (argv.emplace_back(std::forward<Args>(args)), ...);
    return argv;
}

/// A GuestFile built outside any coroutine, for the same g++ 12 reason as guestArgv (its
/// string members' default initializers).
GuestFile guestFile(std::string path, std::string bytes, unsigned mode, std::string owner, std::string group);

/// Runs argv in the guest with `input` on its stdin and waits for it, up to `timeout`;
/// past it the program is killed (SIGKILL, by pid, through the agent) and the result says
/// timedOut. A non-zero exit is a result, not an error. Errors: the guest agent's (see
/// drivers::GuestAgent: Unavailable while it does not answer), InvalidArgument for an
/// empty argv or too much input.
boost::asio::awaitable<model::Result<ExecResult>> exec(GuestTarget target, std::vector<std::string> argv,
                                                       std::string input, std::chrono::milliseconds timeout,
                                                       GuestExecLimits limits = {});

/// Writes `file` with `install -D -m MODE -o OWNER -g GROUP /dev/stdin PATH` (coreutils:
/// it removes PATH, creates it O_EXCL with 0600, chowns, then chmods, so the file is never
/// readable by anyone but root and the owner before it has its mode). InvalidArgument for
/// a bad path, mode or name; Internal with install's stderr when it fails in the guest.
boost::asio::awaitable<model::Result<void>> writeFile(
    GuestTarget target, GuestFile file, std::chrono::milliseconds timeout = std::chrono::seconds(60),
    GuestExecLimits limits = {});

/// The guest agent answers.
boost::asio::awaitable<model::Result<void>> ping(GuestTarget target);

/// writeFile's checks, apart for tests: InvalidArgument naming the field, or nothing.
model::Result<void> validateGuestFile(const GuestFile& file, const GuestExecLimits& limits = {});

}  // namespace gpuhost::agent

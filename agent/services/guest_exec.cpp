#include "services/guest_exec.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <regex>

namespace gpuhost::agent {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using drivers::GuestCommand;
using drivers::GuestExecStatus;
using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

asio::awaitable<void> sleepFor(Clock::duration delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
}

// Keeps at most `cap` bytes; true when some were dropped.
bool capTo(std::string& text, std::size_t cap) {
    if (text.size() <= cap) {
        return false;
    }
    text.resize(cap);
    return true;
}

ExecResult resultFrom(GuestExecStatus status, const GuestExecLimits& limits) {
    ExecResult result;
    result.exitCode = status.exitCode;
    result.signal = status.signal;
    result.stdOut = std::move(status.stdOut);
    result.stdErr = std::move(status.stdErr);
    result.stdOutTruncated = capTo(result.stdOut, limits.outputCap) || status.stdOutTruncated;
    result.stdErrTruncated = capTo(result.stdErr, limits.outputCap) || status.stdErrTruncated;
    return result;
}

asio::awaitable<Result<std::int64_t>> start(const GuestTarget& target, GuestCommand command) {
    auto work = [agent = target.agent, domain = target.domain, command = std::move(command)] {
        return agent->startExec(domain, command);
    };
    co_return co_await target.pool->run(std::move(work));
}

asio::awaitable<Result<GuestExecStatus>> status(const GuestTarget& target, std::int64_t pid) {
    auto work = [agent = target.agent, domain = target.domain, pid] {
        return agent->execStatus(domain, pid);
    };
    co_return co_await target.pool->run(std::move(work));
}

// Polls `pid` until it exits or `deadline` passes (nullopt then). An agent that stops
// answering for a moment (Unavailable) is polled again; any other error ends the wait.
asio::awaitable<Result<std::optional<GuestExecStatus>>> waitFor(const GuestTarget& target, std::int64_t pid,
                                                                Clock::time_point deadline,
                                                                const GuestExecLimits& limits) {
    auto interval = limits.firstPoll;
    for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
        co_await sleepFor(std::min<Clock::duration>(interval, deadline - now));
        interval = std::min(interval * 2, limits.maxPoll);
        auto polled = co_await status(target, pid);
        if (!polled) {
            if (polled.error().code == ErrorCode::Unavailable) {
                continue;
            }
            co_return polled.error();
        }
        if (polled->exited) {
            co_return std::optional<GuestExecStatus>(std::move(*polled));
        }
    }
    co_return std::optional<GuestExecStatus>();
}

// Past the timeout: SIGKILL by pid (argv, no shell), then collect its end so the agent
// forgets it. timedOut is set even when the end is not seen within reapWait.
asio::awaitable<Result<ExecResult>> killTimedOut(const GuestTarget& target, std::int64_t pid,
                                                 const GuestExecLimits& limits) {
    // Named, not a temporary inside co_await (see BlockingPool::run on GCC 12).
    GuestCommand kill{{"kill", "-KILL", std::to_string(pid)}, {}, std::nullopt};
    auto killer = co_await start(target, std::move(kill));
    if (!killer) {
        co_return Error{killer.error().code,
                        "guest program " + std::to_string(pid) +
                            " ran past its timeout and could not be killed: " + killer.error().message,
                        {}};
    }
    ExecResult result;
    auto ended = co_await waitFor(target, pid, Clock::now() + limits.reapWait, limits);
    if (ended && *ended) {
        result = resultFrom(std::move(**ended), limits);
    }
    result.timedOut = true;
    (void)co_await waitFor(target, *killer, Clock::now() + limits.reapWait, limits);  // reap kill itself
    co_return result;
}

bool validName(const std::string& name) {
    static const std::regex kName("[a-z_][a-z0-9_-]{0,31}");
    return std::regex_match(name, kName);
}

}  // namespace

GuestFile guestFile(std::string path, std::string bytes, unsigned mode, std::string owner,
                    std::string group) {
    GuestFile file;
    file.path = std::move(path);
    file.bytes = std::move(bytes);
    file.mode = mode;
    file.owner = std::move(owner);
    file.group = std::move(group);
    return file;
}

asio::awaitable<Result<ExecResult>> exec(GuestTarget target, std::vector<std::string> argv, std::string input,
                                         std::chrono::milliseconds timeout, GuestExecLimits limits) {
    if (argv.empty() || argv.front().empty()) {
        co_return Error::invalid("argv", "needs a program to run");
    }
    if (input.size() > limits.inputCap) {
        co_return Error::invalid("stdin", "is larger than " + std::to_string(limits.inputCap) + " bytes");
    }
    auto deadline = Clock::now() + timeout;
    GuestCommand command{std::move(argv), std::move(input), std::nullopt};
    auto pid = co_await start(target, std::move(command));
    if (!pid) {
        co_return pid.error();
    }
    auto ended = co_await waitFor(target, *pid, deadline, limits);
    if (!ended) {
        co_return ended.error();
    }
    if (*ended) {
        co_return resultFrom(std::move(**ended), limits);
    }
    co_return co_await killTimedOut(target, *pid, limits);
}

Result<void> validateGuestFile(const GuestFile& file, const GuestExecLimits& limits) {
    if (!file.path.starts_with('/') || file.path.find('\0') != std::string::npos ||
        file.path.ends_with('/')) {
        return Error::invalid("path", "must be an absolute file path without NUL");
    }
    if (file.mode > 07777) {
        return Error::invalid("mode", "must be a file mode (at most 07777)");
    }
    if (!validName(file.owner)) {
        return Error::invalid("owner", "must match [a-z_][a-z0-9_-]* (at most 32 characters)");
    }
    if (!validName(file.group)) {
        return Error::invalid("group", "must match [a-z_][a-z0-9_-]* (at most 32 characters)");
    }
    if (file.bytes.size() > limits.inputCap) {
        return Error::invalid("bytes", "is larger than " + std::to_string(limits.inputCap) + " bytes");
    }
    return {};
}

asio::awaitable<Result<void>> writeFile(GuestTarget target, GuestFile file, std::chrono::milliseconds timeout,
                                        GuestExecLimits limits) {
    if (auto valid = validateGuestFile(file, limits); !valid) {
        co_return valid.error();
    }
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", file.mode);
    // "--" ends the options: the path is never read as one, whatever it starts with after "/".
    std::vector<std::string> argv{"install", "-D",       "-m", mode,         "-o",     file.owner,
                                  "-g",      file.group, "--", "/dev/stdin", file.path};
    auto ran = co_await exec(std::move(target), std::move(argv), std::move(file.bytes), timeout, limits);
    if (!ran) {
        co_return ran.error();
    }
    if (!ran->succeeded()) {
        std::string how = ran->timedOut   ? "timed out"
                          : ran->exitCode ? "exited with " + std::to_string(*ran->exitCode)
                                          : "was killed by signal " + std::to_string(ran->signal.value_or(0));
        co_return Error::internal("writing " + file.path + " in the guest: install " + how + ": " +
                                  ran->stdErr);
    }
    co_return Result<void>{};
}

asio::awaitable<Result<void>> ping(GuestTarget target) {
    auto work = [agent = target.agent, domain = target.domain] { return agent->ping(domain); };
    co_return co_await target.pool->run(std::move(work));
}

}  // namespace gpuhost::agent

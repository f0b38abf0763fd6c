#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "guest_agent.hpp"

namespace gpuhost::test {

/// A scriptable QEMU guest agent for the async guest-exec layer: each program (by its
/// whole argv) exits with a scripted status after N status polls, or never; `kill -KILL
/// PID` ends a running one with SIGKILL as the real agent's kill would. Unknown programs
/// fail to start as qemu-guest-agent's do. It records every command it was given.
class FakeGuestAgent final : public drivers::GuestAgent {
  public:
    struct Script {
        int exitCode = 0;
        std::string stdOut{};
        std::string stdErr{};
        unsigned pollsUntilExit = 0;  // status polls answered "still running" first
        bool neverExits = false;      // until killed
        bool stdOutTruncated = false;
        bool echoInput = false;  // stdout is the stdin it was given (cat)
    };
    struct Started {
        std::string domain;
        std::vector<std::string> argv;
        std::string input;
    };

    /// What `argv` does when run.
    void script(std::vector<std::string> argv, Script script) {
        std::lock_guard lock(mutex_);
        scripts_[std::move(argv)] = std::move(script);
    }
    /// Every call fails as a guest agent that is not connected (still booting) fails.
    void setConnected(bool connected) {
        std::lock_guard lock(mutex_);
        connected_ = connected;
    }
    /// The next `count` status polls fail with `error` (an agent hiccup, an odd reply).
    void failPolls(unsigned count, model::Error error) {
        std::lock_guard lock(mutex_);
        failingPolls_ = count;
        pollError_ = std::move(error);
    }

    std::vector<Started> started() {
        std::lock_guard lock(mutex_);
        return started_;
    }
    unsigned polls() {
        std::lock_guard lock(mutex_);
        return polls_;
    }
    /// Programs started and not yet reported exited (the agent still holds them).
    std::size_t running() {
        std::lock_guard lock(mutex_);
        std::size_t count = 0;
        for (const auto& [pid, process] : processes_) {
            count += process.reaped ? 0 : 1;
        }
        return count;
    }

    model::Result<void> ping(const std::string&) override {
        std::lock_guard lock(mutex_);
        if (!connected_) {
            return notConnected();
        }
        return {};
    }

    model::Result<std::int64_t> startExec(const std::string& domain,
                                          const drivers::GuestCommand& command) override {
        std::lock_guard lock(mutex_);
        if (!connected_) {
            return notConnected();
        }
        started_.push_back({domain, command.argv, command.input});
        Script script;
        if (command.argv.size() == 3 && command.argv[0] == "kill" && command.argv[1] == "-KILL") {
            auto target = processes_.find(std::stoll(command.argv[2]));
            if (target != processes_.end() && !target->second.reaped) {
                target->second.killed = true;
            }
        } else if (auto it = scripts_.find(command.argv); it != scripts_.end()) {
            script = it->second;
        } else {
            return model::Error::internal(
                "unable to execute QEMU agent command 'guest-exec': Failed to execute child "
                "process \"" +
                command.argv.front() + "\" (No such file or directory)");
        }
        auto pid = nextPid_++;
        processes_[pid] = Process{script, command.input};
        return pid;
    }

    model::Result<drivers::GuestExecStatus> execStatus(const std::string&, std::int64_t pid) override {
        std::lock_guard lock(mutex_);
        ++polls_;
        if (!connected_) {
            return notConnected();
        }
        if (failingPolls_ > 0) {
            --failingPolls_;
            return pollError_;
        }
        auto it = processes_.find(pid);
        if (it == processes_.end() || it->second.reaped) {
            return model::Error::internal("Invalid parameter 'pid'");  // the agent forgets reported pids
        }
        auto& process = it->second;
        drivers::GuestExecStatus status;
        if (process.killed) {
            status.exited = true;
            status.signal = 9;
        } else if (!process.script.neverExits && process.polls++ >= process.script.pollsUntilExit) {
            status.exited = true;
            status.exitCode = process.script.exitCode;
            status.stdOut = process.script.echoInput ? process.input : process.script.stdOut;
            status.stdErr = process.script.stdErr;
            status.stdOutTruncated = process.script.stdOutTruncated;
        }
        process.reaped = status.exited;
        return status;
    }

  private:
    struct Process {
        Script script;
        std::string input;
        unsigned polls = 0;
        bool killed = false;
        bool reaped = false;
    };
    static model::Error notConnected() {
        return {model::ErrorCode::Unavailable, "QEMU guest agent is not connected", {}};
    }

    std::mutex mutex_;
    std::map<std::vector<std::string>, Script> scripts_;
    std::map<std::int64_t, Process> processes_;
    std::vector<Started> started_;
    std::int64_t nextPid_ = 1000;
    unsigned polls_ = 0;
    unsigned failingPolls_ = 0;
    model::Error pollError_{model::ErrorCode::Internal, {}, {}};
    bool connected_ = true;
};

}  // namespace gpuhost::test

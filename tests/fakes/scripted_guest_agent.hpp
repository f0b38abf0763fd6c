#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "guest_agent.hpp"

namespace gpuhost::test {

/// A guest agent over in-memory guests (`Guest` has `bool up`): each command runs at once
/// through run() and its result is there at the first status poll. Guests answer once they
/// are up. Derived fakes say what the programs do.
template <class Guest>
class ScriptedGuestAgent : public drivers::GuestAgent {
  public:
    Guest guest(const std::string& domain) {
        std::lock_guard lock(mutex_);
        return guests_[domain];
    }
    std::vector<std::vector<std::string>> commands(const std::string& domain) {
        std::lock_guard lock(mutex_);
        return commands_[domain];
    }

    model::Result<void> ping(const std::string& domain) override {
        std::lock_guard lock(mutex_);
        if (!guests_[domain].up) {
            return notConnected();
        }
        return {};
    }

    model::Result<std::int64_t> startExec(const std::string& domain,
                                          const drivers::GuestCommand& command) override {
        std::lock_guard lock(mutex_);
        auto& guest = guests_[domain];
        if (!guest.up) {
            return notConnected();
        }
        commands_[domain].push_back(command.argv);
        auto pid = nextPid_++;
        results_[pid] = run(guest, command.argv, command.input);
        return pid;
    }

    model::Result<drivers::GuestExecStatus> execStatus(const std::string&, std::int64_t pid) override {
        std::lock_guard lock(mutex_);
        auto it = results_.find(pid);
        if (it == results_.end()) {
            return model::Error::internal("Invalid parameter 'pid'");
        }
        auto status = it->second;
        results_.erase(it);
        return status;
    }

  protected:
    /// What the program does to the guest (called with the lock held).
    virtual drivers::GuestExecStatus run(Guest& guest, const std::vector<std::string>& argv,
                                         const std::string& input) = 0;

    static model::Error notConnected() {
        return {model::ErrorCode::Unavailable, "QEMU guest agent is not connected", {}};
    }
    static drivers::GuestExecStatus exited(int code, std::string out = {}, std::string err = {}) {
        drivers::GuestExecStatus status;
        status.exited = true;
        status.exitCode = code;
        status.stdOut = std::move(out);
        status.stdErr = std::move(err);
        return status;
    }

    std::mutex mutex_;
    std::map<std::string, Guest> guests_;

  private:
    std::map<std::string, std::vector<std::vector<std::string>>> commands_;
    std::map<std::int64_t, drivers::GuestExecStatus> results_;
    std::int64_t nextPid_ = 1;
};

}  // namespace gpuhost::test

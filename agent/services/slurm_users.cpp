#include "services/slurm_users.hpp"

#include <charconv>
#include <sstream>

#include "bootstrap.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::ClusterUser;

namespace {

// Debian's normal users end at 59999; 60000-64999 are Debian's static system uids (slurm is 64030).
constexpr unsigned kLastClusterUid = 59999;

struct Step {
    std::string problem;
    bool unreachable = false;
    bool ok() const { return problem.empty(); }
};

// `okExit`: another exit code that means success (e.g. userdel's "no such user").
asio::awaitable<Step> runStep(const GuestTarget& guest, std::vector<std::string> argv,
                              std::chrono::milliseconds timeout, int okExit = 0) {
    auto program = argv.front();
    auto result = co_await exec(guest, std::move(argv), {}, timeout);
    if (!result) {
        co_return Step{result.error().message, result.error().code == model::ErrorCode::Unavailable};
    }
    if (result->timedOut || !result->exitCode || (*result->exitCode != 0 && *result->exitCode != okExit)) {
        auto err = result->stdErr.substr(0, 300);
        co_return Step{program + " failed" +
                           (result->exitCode ? " (exit " + std::to_string(*result->exitCode) + ")" : "") +
                           (err.empty() ? "" : ": " + err),
                       false};
    }
    co_return Step{};
}

std::string home(const ClusterUser& user) {
    return "/home/" + user.username;
}

std::string sudoersFile(const std::string& username) {
    return slurm::sudoersPath(username);
}

// One user as desired: the account, its keys, its sudo rule.
asio::awaitable<Step> applyOne(const GuestTarget& guest, const ClusterUser& user, bool exists,
                               std::chrono::milliseconds timeout) {
    const auto uid = std::to_string(user.uid);
    if (!exists) {
        // -U: a group of the same name and gid; -m: the home; `--` ends the options.
        auto made =
            co_await runStep(guest,
                             guestArgv("useradd", "-m", "-u", uid, "-U", "-c", std::string(slurm::kUserGecos),
                                       "-s", "/bin/bash", "--", user.username),
                             timeout);
        if (!made.ok()) {
            co_return made;
        }
    }
    auto dir = co_await runStep(guest,
                                guestArgv("install", "-d", "-m", "0700", "-o", user.username, "-g",
                                          user.username, home(user) + "/.ssh"),
                                timeout);
    if (!dir.ok()) {
        co_return dir;
    }
    std::string keys;
    for (const auto& key : user.sshKeys) {
        keys += key + "\n";
    }
    auto written = co_await writeFile(
        guest, guestFile(home(user) + "/.ssh/authorized_keys", keys, 0600, user.username, user.username),
        timeout);
    if (!written) {
        co_return Step{written.error().message, written.error().code == model::ErrorCode::Unavailable};
    }
    if (!user.sudo) {
        co_return co_await runStep(guest, guestArgv("rm", "-f", "--", sudoersFile(user.username)), timeout);
    }
    // sudo ignores files whose name holds a '.': the candidate is inert until visudo passed it.
    auto candidate = "/etc/sudoers.d/.gpuhost-" + user.username + ".new";
    auto rule = slurm::sudoersRule(user.username);
    auto staged = co_await writeFile(guest, guestFile(candidate, rule, 0440, "root", "root"), timeout);
    if (!staged) {
        co_return Step{staged.error().message, staged.error().code == model::ErrorCode::Unavailable};
    }
    auto checked = co_await runStep(guest, guestArgv("visudo", "-c", "-q", "-f", candidate), timeout);
    if (!checked.ok()) {
        co_await runStep(guest, guestArgv("rm", "-f", "--", candidate), timeout);
        co_return checked;
    }
    co_return co_await runStep(guest, guestArgv("mv", "-f", "--", candidate, sudoersFile(user.username)),
                               timeout);
}

}  // namespace

std::map<std::string, unsigned> clusterAccounts(const std::string& passwd) {
    std::map<std::string, unsigned> accounts;
    std::istringstream lines(passwd);
    std::string line;
    while (std::getline(lines, line)) {
        // name:password:uid:gid:gecos:home:shell
        auto first = line.find(':');
        auto second = first == std::string::npos ? first : line.find(':', first + 1);
        auto third = second == std::string::npos ? second : line.find(':', second + 1);
        auto fourth = third == std::string::npos ? third : line.find(':', third + 1);
        auto fifth = fourth == std::string::npos ? fourth : line.find(':', fourth + 1);
        if (fifth == std::string::npos || line.substr(fourth + 1, fifth - fourth - 1) != slurm::kUserGecos) {
            continue;  // not an account the agent made
        }
        unsigned uid = 0;
        auto [end, ec] = std::from_chars(line.data() + second + 1, line.data() + third, uid);
        if (ec != std::errc() || end != line.data() + third) {
            continue;
        }
        if (uid >= model::kFirstClusterUid && uid <= kLastClusterUid) {
            accounts[line.substr(0, first)] = uid;
        }
    }
    return accounts;
}

asio::awaitable<UsersResult> applyUsers(GuestTarget guest, const std::vector<ClusterUser>& desired,
                                        AppliedUsers applied, std::chrono::milliseconds timeout) {
    UsersResult result;
    result.applied = std::move(applied);
    bool allKnown = std::all_of(desired.begin(), desired.end(), [&](const ClusterUser& user) {
        auto it = result.applied.find(user.username);
        return it != result.applied.end() && it->second == user;
    });
    if (allKnown && result.applied.size() == desired.size()) {
        co_return result;
    }
    auto passwd = co_await exec(guest, guestArgv("getent", "passwd"), {}, timeout);
    if (!passwd || !passwd->succeeded()) {
        result.problem = passwd ? "getent passwd failed: " + passwd->stdErr : passwd.error().message;
        result.unreachable = !passwd && passwd.error().code == model::ErrorCode::Unavailable;
        co_return result;
    }
    auto accounts = clusterAccounts(passwd->stdOut);
    for (const auto& account : accounts) {
        const auto& name = account.first;  // named: clang cannot capture a structured binding
        bool wanted = std::any_of(desired.begin(), desired.end(),
                                  [&](const ClusterUser& user) { return user.username == name; });
        if (wanted) {
            continue;
        }
        // userdel exits 6 when the account is gone already.
        auto removed = co_await runStep(guest, guestArgv("userdel", "-r", "--", name), timeout, 6);
        if (removed.ok()) {
            removed = co_await runStep(guest, guestArgv("rm", "-f", "--", sudoersFile(name)), timeout);
        }
        if (!removed.ok()) {
            result.problem = "removing user " + name + ": " + removed.problem;
            result.unreachable = removed.unreachable;
            co_return result;
        }
        result.applied.erase(name);
    }
    for (auto it = result.applied.begin(); it != result.applied.end();) {
        it = accounts.contains(it->first) ? std::next(it) : result.applied.erase(it);
    }
    for (const auto& user : desired) {
        auto known = result.applied.find(user.username);
        if (known != result.applied.end() && known->second == user) {
            continue;
        }
        auto account = accounts.find(user.username);
        if (account != accounts.end() && account->second != user.uid) {
            result.problem = "user " + user.username + " exists with uid " + std::to_string(account->second) +
                             ", not " + std::to_string(user.uid);
            co_return result;
        }
        auto step = co_await applyOne(guest, user, account != accounts.end(), timeout);
        if (!step.ok()) {
            result.problem = "user " + user.username + ": " + step.problem;
            result.unreachable = step.unreachable;
            co_return result;
        }
        result.applied[user.username] = user;
    }
    co_return result;
}

}  // namespace gpuhost::agent

#include "services/cluster_guest.hpp"

namespace gpuhost::agent {

boost::asio::awaitable<model::Result<std::string>> runInMember(const ClusterState& cluster,
                                                               const model::Instance& member,
                                                               std::vector<std::string> argv,
                                                               std::chrono::milliseconds timeout,
                                                               std::string input) {
    auto guest = cluster.guestOf(member);
    if (!guest) {
        co_return model::Error{model::ErrorCode::Unavailable, "no guest agent for " + member.name, {}};
    }
    auto program = argv.front();
    auto result = co_await exec(*guest, std::move(argv), std::move(input), timeout);
    if (!result) {
        co_return result.error();
    }
    if (!result->succeeded()) {
        co_return model::Error::internal(
            program + " on " + member.name + " failed" +
            (result->exitCode ? " (exit " + std::to_string(*result->exitCode) + ")" : "") +
            (result->timedOut ? " (timed out)" : "") + ": " + result->stdErr.substr(0, 300));
    }
    co_return std::move(result->stdOut);
}

boost::asio::awaitable<model::Result<int>> exitStatusInMember(const ClusterState& cluster,
                                                              const model::Instance& member,
                                                              std::vector<std::string> argv,
                                                              std::chrono::milliseconds timeout) {
    auto guest = cluster.guestOf(member);
    if (!guest) {
        co_return model::Error{model::ErrorCode::Unavailable, "no guest agent for " + member.name, {}};
    }
    auto program = argv.front();
    auto result = co_await exec(*guest, std::move(argv), {}, timeout);
    if (!result) {
        co_return result.error();
    }
    if (!result->exitCode || result->timedOut) {
        co_return model::Error{
            model::ErrorCode::Unavailable, program + " in " + member.name + " did not finish", {}};
    }
    co_return *result->exitCode;
}

boost::asio::awaitable<model::Result<void>> writeInMember(const ClusterState& cluster,
                                                          const model::Instance& member, GuestFile file,
                                                          std::chrono::milliseconds timeout) {
    auto guest = cluster.guestOf(member);
    if (!guest) {
        co_return model::Error{model::ErrorCode::Unavailable, "no guest agent for " + member.name, {}};
    }
    co_return co_await writeFile(*guest, std::move(file), timeout);
}

}  // namespace gpuhost::agent

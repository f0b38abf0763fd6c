#include "services/kubernetes_guest.hpp"

#include <algorithm>

#include "services/cluster_guest.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Result;

std::string kubernetesNodeName(const model::InstanceOwner& owner) {
    if (!owner.nodePool.empty()) {
        return owner.nodePool + "-" + std::to_string(owner.index);
    }
    return owner.role;
}

bool isSafeNodeName(std::string_view name) {
    return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    });
}

asio::awaitable<Result<std::string>> KubernetesGuest::kubectlFor(const ClusterState& cluster,
                                                                 const model::Instance& controlPlane,
                                                                 std::vector<std::string> args,
                                                                 std::chrono::milliseconds timeout) const {
    auto argv = guestArgv("kubectl", "--kubeconfig", kAdminConf);
    argv.insert(argv.end(), args.begin(), args.end());
    co_return co_await runInMember(cluster, controlPlane, std::move(argv), timeout);
}

asio::awaitable<Result<bool>> KubernetesGuest::exists(const ClusterState& cluster,
                                                      const model::Instance& member,
                                                      std::string_view path) const {
    auto status =
        co_await exitStatusInMember(cluster, member, guestArgv("test", "-e", std::string(path)), timeout_);
    if (!status) {
        co_return status.error();
    }
    if (*status != 0 && *status != 1) {
        co_return Error{ErrorCode::Unavailable, "test -e in " + member.name + " did not answer", {}};
    }
    co_return *status == 0;
}

asio::awaitable<std::string> KubernetesGuest::logTail(const ClusterState& cluster,
                                                      const model::Instance& member,
                                                      std::string_view path) const {
    auto tail =
        co_await runInMember(cluster, member, guestArgv("tail", "-n", "5", std::string(path)), timeout_);
    co_return tail ? *tail : std::string("(no log: ") + tail.error().message + ")";
}

}  // namespace gpuhost::agent

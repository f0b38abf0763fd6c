#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <string>
#include <vector>

#include "model/cluster.hpp"
#include "services/guest_exec.hpp"

namespace gpuhost::agent {

using AppliedUsers = std::map<std::string, model::ClusterUser>;

/// Makes the cluster users on one guest what `desired` says, through the guest agent and
/// argv only: accounts with their uid (useradd), ~/.ssh/authorized_keys 0600, and
/// /etc/sudoers.d/gpuhost-<name> checked with `visudo -c` before it is put in place.
/// Accounts the agent made (uid in the cluster range and its GECOS marker) that `desired` no
/// longer has are removed (userdel -r), so a removal survives an agent restart. Skips users `applied` already
/// has as desired. Returns what is applied now (partial on error: the error says which user failed).
struct UsersResult {
    AppliedUsers applied;
    std::string problem;  // "" when every user is in place
    bool unreachable = false;
};
boost::asio::awaitable<UsersResult> applyUsers(GuestTarget guest,
                                               const std::vector<model::ClusterUser>& desired,
                                               AppliedUsers applied, std::chrono::milliseconds timeout);

/// The accounts of `getent passwd` output the agent made: the cluster uid range and its GECOS
/// marker (pure, for tests).
std::map<std::string, unsigned> clusterAccounts(const std::string& passwd);

}  // namespace gpuhost::agent

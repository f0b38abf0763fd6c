#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "services/cluster_kind.hpp"

namespace gpuhost::agent {

/// Runs `argv` in a member's guest (through its guest agent): its stdout, or an error that
/// names the program and the member with the start of its stderr. Unavailable while the
/// member has no guest agent or it does not answer.
boost::asio::awaitable<model::Result<std::string>> runInMember(const ClusterState& cluster,
                                                               const model::Instance& member,
                                                               std::vector<std::string> argv,
                                                               std::chrono::milliseconds timeout,
                                                               std::string input = {});

}  // namespace gpuhost::agent

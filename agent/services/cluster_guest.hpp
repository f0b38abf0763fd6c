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

/// Runs `argv` in a member's guest and answers its exit status (a non-zero one is an answer,
/// not an error). Unavailable while the guest does not answer, or when the program was
/// killed (a timeout) rather than exiting.
boost::asio::awaitable<model::Result<int>> exitStatusInMember(const ClusterState& cluster,
                                                              const model::Instance& member,
                                                              std::vector<std::string> argv,
                                                              std::chrono::milliseconds timeout);

/// Writes a file in a member's guest (see writeFile).
boost::asio::awaitable<model::Result<void>> writeInMember(const ClusterState& cluster,
                                                          const model::Instance& member, GuestFile file,
                                                          std::chrono::milliseconds timeout);

}  // namespace gpuhost::agent

#pragma once

#include <chrono>

#include "guest_agent.hpp"
#include "libvirt/connection.hpp"

namespace gpuhost::drivers::libvirt {

/// GuestAgent over virDomainQemuAgentCommand: one agent command per call, on the host's
/// self-reconnecting connection (shared with LibvirtHypervisor and LibvirtStorage).
class LibvirtGuestAgent final : public GuestAgent {
  public:
    /// `connection` must outlive this. `commandTimeout` bounds each agent command (not the
    /// program it starts): a hung agent is Unavailable after it.
    explicit LibvirtGuestAgent(Connection& connection,
                               std::chrono::seconds commandTimeout = std::chrono::seconds(10))
        : connection_(connection), commandTimeout_(commandTimeout) {}

    model::Result<void> ping(const std::string& domain) override;
    model::Result<std::int64_t> startExec(const std::string& domain, const GuestCommand& command) override;
    model::Result<GuestExecStatus> execStatus(const std::string& domain, std::int64_t pid) override;

  private:
    /// The raw JSON reply of one agent command, or the classified libvirt error.
    model::Result<std::string> command(const std::string& domain, const std::string& json,
                                       std::string_view what);

    Connection& connection_;
    std::chrono::seconds commandTimeout_;
};

}  // namespace gpuhost::drivers::libvirt

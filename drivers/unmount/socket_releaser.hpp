#pragma once

#include <chrono>

#include "mount_releaser.hpp"

namespace gpuhost::drivers {

/// Asks the privileged unmount helper (gpuhost-unmount, socket-activated by systemd) to
/// unmount: the agent's own unit has no capabilities and a private mount namespace, while the
/// mount lives in the host's. The helper serves exactly one folder, `root`.
class SocketMountReleaser final : public MountReleaser {
  public:
    SocketMountReleaser(std::filesystem::path socketPath, std::filesystem::path root,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30))
        : socketPath_(std::move(socketPath)), root_(std::move(root)), timeout_(timeout) {}

    model::Result<void> release(const std::string& name, const std::filesystem::path& mountPoint) override;

  private:
    std::filesystem::path socketPath_;
    std::filesystem::path root_;
    std::chrono::milliseconds timeout_;
};

}  // namespace gpuhost::drivers

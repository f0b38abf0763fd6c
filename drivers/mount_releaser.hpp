#pragma once

#include <filesystem>
#include <string>

#include "model/error.hpp"

namespace gpuhost::drivers {

/// Unmounts a shared directory's loop-mounted image. libvirt 9.0 never sees such a mount as
/// mounted (/proc/mounts shows /dev/loopN, not the image), so it never unmounts it; the
/// storage driver asks this instead. Blocking: call it from the host pool.
class MountReleaser {
  public:
    virtual ~MountReleaser() = default;

    /// `name` is the directory's own name, `mountPoint` = filesystems root / name.
    virtual model::Result<void> release(const std::string& name, const std::filesystem::path& mountPoint) = 0;
};

/// umount2() in this process: for root runs without systemd (./run.sh, the tests).
class DirectMountReleaser final : public MountReleaser {
  public:
    model::Result<void> release(const std::string& name, const std::filesystem::path& mountPoint) override;
};

/// The process-wide direct releaser (it has no state).
MountReleaser& directMountReleaser();

}  // namespace gpuhost::drivers

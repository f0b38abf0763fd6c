#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "mount_releaser.hpp"

namespace gpuhost::drivers {

model::Result<void> DirectMountReleaser::release(const std::string&,
                                                 const std::filesystem::path& mountPoint) {
    if (::umount2(mountPoint.c_str(), UMOUNT_NOFOLLOW) != 0) {
        return model::Error::internal(
            "unmount " + mountPoint.string() + ": " + std::strerror(errno) +
            " (libvirt cannot unmount loop-mounted images: the agent needs CAP_SYS_ADMIN in the host's "
            "mount namespace, or filesystems.unmount_helper)");
    }
    return {};
}

MountReleaser& directMountReleaser() {
    static DirectMountReleaser releaser;
    return releaser;
}

}  // namespace gpuhost::drivers

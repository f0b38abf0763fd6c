#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::drivers {

struct Volume {
    std::string name;
    std::string path;
    std::uint64_t capacityBytes = 0;
    std::string backingPath;  // an overlay's base image (listVolumes only; empty: none)
};

/// Disk images on one host, through libvirt's storage API so nothing assumes a disk
/// shared with the agent: root overlays, seed ISOs, imported base images. Blocking:
/// call through the blocking pool. Volume names are derived from ids, never user text.
class Storage {
  public:
    virtual ~Storage() = default;

    /// Makes sure the pool exists, is built, started and autostarted.
    virtual model::Result<void> ensurePool() = 0;
    virtual model::Result<Volume> volume(const std::string& name) = 0;
    /// Every volume of the pool, with each overlay's backing path (so the image cache can
    /// tell which base images are still in use).
    virtual model::Result<std::vector<Volume>> listVolumes() = 0;

    /// A qcow2 overlay on `backingPath` (format given explicitly, never probed): O(1)
    /// whatever the base's size. capacityBytes 0 means the base's own size.
    virtual model::Result<Volume> createOverlay(const std::string& name, const std::string& backingPath,
                                                std::string_view backingFormat,
                                                std::uint64_t capacityBytes) = 0;

    /// A volume holding a copy of the local file `source` (a seed ISO, a catalog image),
    /// streamed to the host through libvirt, so the host need not share a disk with the
    /// agent. A failed copy leaves no volume behind.
    virtual model::Result<Volume> importFile(const std::string& name,
                                             const std::filesystem::path& source) = 0;

    /// Deleting a volume that does not exist is not an error.
    virtual model::Result<void> deleteVolume(const std::string& name) = 0;

    /// A directory whose size the host's kernel enforces: an ext4 image of `sizeBytes`
    /// (a sparse volume of this pool), formatted and loop-mounted by libvirt as an "fs"
    /// pool named `name`, autostarted so libvirtd mounts it again after a host restart.
    /// Idempotent; returns the mount point (on the host).
    virtual model::Result<std::string> ensureSharedDirectory(const std::string& name,
                                                             std::uint64_t sizeBytes) = 0;
    /// Unmounts it and removes its pool, mount point and image. Missing is not an error.
    virtual model::Result<void> removeSharedDirectory(const std::string& name) = 0;
};

}  // namespace gpuhost::drivers

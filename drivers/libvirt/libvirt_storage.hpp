#pragma once

#include <mutex>

#include "libvirt/connection.hpp"
#include "mount_releaser.hpp"

typedef struct _virStorageVol* virStorageVolPtr;
#include "storage.hpp"

namespace gpuhost::drivers::libvirt {

/// Storage as a libvirt "dir" pool (default name "gpuhost", under the state dir).
class LibvirtStorage final : public Storage {
  public:
    /// Shared directories are mounted under `sharedRoot` (one folder per directory); libvirt
    /// never unmounts them (see removeSharedDirectory), `releaser` does.
    LibvirtStorage(Connection& connection, std::string poolName, std::filesystem::path poolPath,
                   std::filesystem::path sharedRoot, MountReleaser& releaser = directMountReleaser())
        : connection_(connection),
          poolName_(std::move(poolName)),
          poolPath_(std::move(poolPath)),
          sharedRoot_(std::move(sharedRoot)),
          releaser_(releaser) {}

    model::Result<void> ensurePool() override;
    model::Result<Volume> volume(const std::string& name) override;
    model::Result<std::vector<Volume>> listVolumes() override;
    model::Result<Volume> createOverlay(const std::string& name, const std::string& backingPath,
                                        std::string_view backingFormat, std::uint64_t capacityBytes) override;
    model::Result<Volume> importFile(const std::string& name, const std::filesystem::path& source) override;
    model::Result<void> deleteVolume(const std::string& name) override;
    model::Result<std::string> ensureSharedDirectory(const std::string& name,
                                                     std::uint64_t sizeBytes) override;
    model::Result<void> removeSharedDirectory(const std::string& name) override;

    /// The "fs" pool XML of a shared directory (pure; exposed for golden tests).
    static std::string sharedPoolXml(const std::string& name, const std::string& imagePath,
                                     const std::filesystem::path& mountPoint);

    /// The volume XML for an overlay (pure; exposed for golden tests).
    static std::string overlayXml(const std::string& name, const std::string& backingPath,
                                  std::string_view backingFormat, std::uint64_t capacityBytes);

  private:
    model::Error failed(std::string_view what);
    model::Result<void> upload(virConnectPtr conn, virStorageVolPtr volume,
                               const std::filesystem::path& source, std::uint64_t bytes);

    Connection& connection_;
    std::string poolName_;
    std::filesystem::path poolPath_;
    std::filesystem::path sharedRoot_;
    MountReleaser& releaser_;
    std::mutex poolMutex_;  // jobs, the reconciler and filesystems all ensure the pool
};

}  // namespace gpuhost::drivers::libvirt

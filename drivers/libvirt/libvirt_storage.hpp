#pragma once

#include "libvirt/connection.hpp"

typedef struct _virStorageVol* virStorageVolPtr;
#include "storage.hpp"

namespace gpuhost::drivers::libvirt {

/// Storage as a libvirt "dir" pool (default name "gpuhost", under the state dir).
class LibvirtStorage final : public Storage {
  public:
    LibvirtStorage(Connection& connection, std::string poolName, std::filesystem::path poolPath)
        : connection_(connection), poolName_(std::move(poolName)), poolPath_(std::move(poolPath)) {}

    model::Result<void> ensurePool() override;
    model::Result<Volume> volume(const std::string& name) override;
    model::Result<std::vector<Volume>> listVolumes() override;
    model::Result<Volume> createOverlay(const std::string& name, const std::string& backingPath,
                                        std::string_view backingFormat, std::uint64_t capacityBytes) override;
    model::Result<Volume> importFile(const std::string& name, const std::filesystem::path& source) override;
    model::Result<void> deleteVolume(const std::string& name) override;

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
};

}  // namespace gpuhost::drivers::libvirt

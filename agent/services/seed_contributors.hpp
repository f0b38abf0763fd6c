#pragma once

#include <optional>
#include <vector>

#include "model/instance.hpp"
#include "seed.hpp"
#include "services/filesystem_service.hpp"

namespace gpuhost::agent {

/// Adds the agent's own cloud-init part to the seed of the instances it concerns: the
/// filesystem mounts today, a cluster's bootstrap next. Each is a thin lookup around a
/// pure generator in cloudinit/ (golden-tested there); the provisioner merges the parts
/// with the user's userData in list order.
class SeedContributor {
  public:
    virtual ~SeedContributor() = default;
    /// The part for `instance` (nullopt: it needs none). Unavailable: not ready yet (the
    /// job waits and retries); any other error fails the instance.
    virtual model::Result<std::optional<cloudinit::Part>> partFor(const model::Instance& instance) const = 0;
};

/// The project's filesystems an instance attaches, as its host sees them: Unavailable
/// while one is not mounted yet; Internal when one is gone.
model::Result<std::vector<SharedDirectory>> attachedFilesystems(const FilesystemDirectory* directory,
                                                                const model::Instance& instance);

/// Mounts the instance's virtiofs filesystems at /mnt/<name> (cloudinit::mountPart).
class FilesystemMountContributor final : public SeedContributor {
  public:
    explicit FilesystemMountContributor(const FilesystemDirectory* directory) : directory_(directory) {}
    void setDirectory(const FilesystemDirectory* directory) { directory_ = directory; }
    model::Result<std::optional<cloudinit::Part>> partFor(const model::Instance& instance) const override;

  private:
    const FilesystemDirectory* directory_;
};

/// The user-data of `instance`: its own userData with every contributor's part.
model::Result<std::string> seedUserData(const model::Instance& instance,
                                        const std::vector<const SeedContributor*>& contributors);

}  // namespace gpuhost::agent

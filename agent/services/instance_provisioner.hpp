#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/instance.hpp"
#include "services/catalog.hpp"
#include "services/host_registry.hpp"
#include "services/image_cache.hpp"
#include "services/instance_options.hpp"
#include "services/instance_table.hpp"
#include "services/seed_contributors.hpp"

namespace gpuhost::agent {

/// Volume names in the storage pool: derived from ids, never from user text.
std::string rootVolumeName(const model::Uuid& id);
std::string seedVolumeName(const model::Uuid& id);
/// The instance a volume made by rootVolumeName/seedVolumeName belongs to.
std::optional<model::Uuid> instanceIdFromVolumeName(std::string_view name);

/// The libvirt side of an instance's transitional states: disks, seed and domain up
/// (provision), the guest off (powerOff), everything gone (teardown). Each step is
/// idempotent, so a job cut short by a crash is simply run again from the top.
/// Blocking calls go to the instance's host pool.
class InstanceProvisioner {
  public:
    InstanceProvisioner(const InstanceTable& table, const HostRegistry& hosts, const Catalog& catalog,
                        ImageCache& images, std::vector<const SeedContributor*> contributors,
                        const InstanceOptions& options)
        : table_(table),
          hosts_(hosts),
          catalog_(catalog),
          images_(images),
          contributors_(std::move(contributors)),
          options_(options) {}

    void setAgentId(const model::Uuid& agentId) { agentId_ = agentId; }
    const model::Uuid& agentId() const { return agentId_; }
    void setFilesystems(const FilesystemDirectory* filesystems) { filesystems_ = filesystems; }
    /// Another part for the seeds (a cluster's bootstrap), and its removal.
    void addContributor(const SeedContributor* contributor);
    void removeContributor(const SeedContributor* contributor);
    void stop() { stopping_.store(true); }

    /// Disks, seed and a running domain (`freshRoot`: a new root disk from the image).
    boost::asio::awaitable<model::Result<void>> provision(model::Instance instance, bool freshRoot);
    /// Guest agent, else ACPI; the plug is pulled after the shutdown timeout.
    boost::asio::awaitable<model::Result<void>> powerOff(model::Instance instance);
    boost::asio::awaitable<model::Result<void>> teardown(model::Instance instance);

  private:
    drivers::DomainSpec domainSpec(const model::Instance& instance, const model::InstanceType& type,
                                   const ImageConfig& image, const std::string& root,
                                   const std::string& seed) const;

    const InstanceTable& table_;
    const HostRegistry& hosts_;
    const Catalog& catalog_;
    ImageCache& images_;
    mutable std::mutex contributorsMutex_;
    std::vector<const SeedContributor*> contributors_;
    const InstanceOptions& options_;
    const FilesystemDirectory* filesystems_ = nullptr;
    model::Uuid agentId_;
    std::atomic<bool> stopping_{false};
};

}  // namespace gpuhost::agent

#pragma once

#include <filesystem>

#include "seed_writer.hpp"
#include "storage.hpp"

namespace gpuhost::drivers {

/// SeedWriter for libvirt hosts: builds the ISO with xorriso in a local scratch folder
/// and streams it into the host's pool (Storage::importFile), so the host needs no disk
/// shared with the agent.
class IsoSeedWriter final : public SeedWriter {
  public:
    IsoSeedWriter(Storage& storage, std::filesystem::path scratchDir)
        : storage_(storage), scratchDir_(std::move(scratchDir)) {}
    model::Result<std::string> writeSeed(const SeedFiles& files, const std::string& volumeName) override;

  private:
    Storage& storage_;
    std::filesystem::path scratchDir_;
};

}  // namespace gpuhost::drivers

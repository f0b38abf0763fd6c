#pragma once

#include <string>

#include "model/error.hpp"
#include "seed/seed_iso.hpp"

namespace gpuhost::drivers {

/// Puts an instance's NoCloud seed (user-data, meta-data, network-config) where its domain
/// can read it: a volume of the host's pool, replaced if it exists. Blocking: call through
/// the host's pool. Errors keep their code: an unreachable libvirt stays Unavailable, so
/// the job waits for it rather than failing the instance.
class SeedWriter {
  public:
    virtual ~SeedWriter() = default;
    /// The path of the written volume on the host.
    virtual model::Result<std::string> writeSeed(const SeedFiles& files, const std::string& volumeName) = 0;
};

}  // namespace gpuhost::drivers

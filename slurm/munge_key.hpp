#pragma once

#include <string>

#include "model/error.hpp"

namespace gpuhost::slurm {

constexpr std::size_t kMungeKeyBytes = 1024;

/// A fresh munge key: 1024 bytes from OpenSSL's CSPRNG. The one piece of gpuhost_slurm
/// that is not a pure function. Each cluster gets its own (the package's key, made when
/// the image was built, would be shared by every VM). The caller writes it 0400, owned
/// by munge, and never returns it through the API. Internal when RAND_bytes fails.
model::Result<std::string> mungeKey();

}  // namespace gpuhost::slurm

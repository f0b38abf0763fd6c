#include "munge_key.hpp"

#include <openssl/rand.h>

namespace gpuhost::slurm {

model::Result<std::string> mungeKey() {
    std::string key(kMungeKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
        return model::Error::internal("RAND_bytes failed: no munge key");
    }
    return key;
}

}  // namespace gpuhost::slurm

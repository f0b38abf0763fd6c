#include "seed/iso_seed_writer.hpp"

namespace gpuhost::drivers {

model::Result<std::string> IsoSeedWriter::writeSeed(const SeedFiles& files, const std::string& volumeName) {
    // The volume name is derived from the instance id, never from user text.
    auto iso = scratchDir_ / (volumeName + ".tmp");
    if (auto written = writeSeedIso(files, iso); !written) {
        return written.error();
    }
    struct RemoveIso {
        std::filesystem::path path;
        ~RemoveIso() {
            std::error_code ignored;
            std::filesystem::remove(path, ignored);
        }
    } cleanup{iso};
    // Its own error, not a generic one: an unreachable libvirt must stay Unavailable.
    if (auto removed = storage_.deleteVolume(volumeName); !removed) {
        return removed.error();
    }
    auto volume = storage_.importFile(volumeName, iso);
    if (!volume) {
        return volume.error();
    }
    return volume->path;
}

}  // namespace gpuhost::drivers

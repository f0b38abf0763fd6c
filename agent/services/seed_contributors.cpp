#include "services/seed_contributors.hpp"

namespace gpuhost::agent {

using model::Error;
using model::ErrorCode;
using model::Result;

Result<std::vector<SharedDirectory>> attachedFilesystems(const FilesystemDirectory* directory,
                                                         const model::Instance& instance) {
    std::vector<SharedDirectory> attached;
    for (const auto& id : instance.filesystems) {
        auto found = directory != nullptr ? directory->find(instance.projectId, id) : std::nullopt;
        if (!found) {
            return Error::internal("filesystem " + id.str() + " is gone");
        }
        if (found->mountPoint.empty()) {
            return Error{ErrorCode::Unavailable, "filesystem " + id.str() + " is not mounted yet", {}};
        }
        attached.push_back(std::move(*found));
    }
    return attached;
}

Result<std::optional<cloudinit::Part>> FilesystemMountContributor::partFor(
    const model::Instance& instance) const {
    auto attached = attachedFilesystems(directory_, instance);
    if (!attached) {
        return attached.error();
    }
    std::vector<cloudinit::Mount> mounts;
    for (const auto& filesystem : *attached) {
        mounts.push_back({filesystem.id.str(), filesystem.name});
    }
    return cloudinit::mountPart(mounts);
}

Result<std::string> seedUserData(const model::Instance& instance,
                                 const std::vector<const SeedContributor*>& contributors) {
    std::vector<cloudinit::Part> parts;
    for (const auto* contributor : contributors) {
        auto part = contributor->partFor(instance);
        if (!part) {
            return part.error();
        }
        if (*part) {
            parts.push_back(std::move(**part));
        }
    }
    return cloudinit::userData(instance.userData, parts);
}

}  // namespace gpuhost::agent

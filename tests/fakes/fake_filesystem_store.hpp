#pragma once

#include <map>
#include <mutex>

#include "store/store.hpp"

namespace gpuhost::test {

/// An in-memory FilesystemStore. It does not see instances, so the in-use check is
/// the test's to arrange (`markInUse`).
class FakeFilesystemStore final : public agent::FilesystemStore {
  public:
    model::Result<std::vector<model::Filesystem>> loadFilesystems() override {
        std::lock_guard lock(mutex_);
        std::vector<model::Filesystem> all;
        for (const auto& [id, filesystem] : filesystems_) {
            all.push_back(filesystem);
        }
        return all;
    }
    model::Result<void> insertFilesystem(const model::Filesystem& filesystem) override {
        std::lock_guard lock(mutex_);
        filesystems_[filesystem.id] = filesystem;
        return {};
    }
    model::Result<void> updateFilesystemState(const model::Uuid& id, model::FilesystemState state,
                                              const std::string& reason) override {
        std::lock_guard lock(mutex_);
        auto it = filesystems_.find(id);
        if (it == filesystems_.end() || it->second.state != model::FilesystemState::Creating) {
            return model::Error::notFound("filesystem");
        }
        it->second.state = state;
        it->second.reason = reason;
        return {};
    }
    model::Result<void> beginFilesystemDelete(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        auto it = filesystems_.find(id);
        if (it == filesystems_.end()) {
            return model::Error::notFound("filesystem");
        }
        if (inUse_.contains(id)) {
            return model::Error::conflict("the filesystem is attached to an instance");
        }
        it->second.state = model::FilesystemState::Deleting;
        return {};
    }
    model::Result<void> deleteFilesystem(const model::Uuid& id) override {
        std::lock_guard lock(mutex_);
        filesystems_.erase(id);
        return {};
    }
    void markInUse(const model::Uuid& id, bool used) {
        std::lock_guard lock(mutex_);
        if (used) {
            inUse_[id] = true;
        } else {
            inUse_.erase(id);
        }
    }

  private:
    std::mutex mutex_;
    std::map<model::Uuid, model::Filesystem> filesystems_;
    std::map<model::Uuid, bool> inUse_;
};

}  // namespace gpuhost::test

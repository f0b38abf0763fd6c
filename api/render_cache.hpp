#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gpuhost::api {

/// Rendered response bodies keyed by (the caller's scope, data generation). A list of 1,000
/// projects costs milliseconds to build and serialise; the same bytes cost a copy.
/// A body is reused only while the service's generation is unchanged, so a cached
/// answer is never staler than one rendered afresh.
class RenderCache {
  public:
    std::shared_ptr<const std::string> get(const std::string& key, std::uint64_t generation,
                                           const std::function<std::string()>& render) {
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(key);
            if (it != entries_.end() && it->second.generation == generation) {
                return it->second.body;
            }
        }
        auto body = std::make_shared<const std::string>(render());
        std::lock_guard lock(mutex_);
        auto& entry = entries_[key];
        if (entry.body == nullptr || entry.generation <= generation) {
            entry = Entry{generation, body};
        }
        return body;
    }

  private:
    struct Entry {
        std::uint64_t generation = 0;
        std::shared_ptr<const std::string> body;
    };
    std::mutex mutex_;
    std::map<std::string, Entry> entries_;  // one entry per distinct token scope: bounded by the config
};

}  // namespace gpuhost::api

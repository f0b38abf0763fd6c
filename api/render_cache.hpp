#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "http.hpp"

namespace gpuhost::api {

/// A rendered list: its bytes (shared with every response that sends them) and, when the
/// list was cut at list_max_items, where the next page starts.
struct RenderedList {
    SharedText body;
    std::string nextCursor;
};

/// Rendered list bodies keyed by the caller's scope (a token's projects, a project), valid
/// for one data generation and variant (what else the rendering depends on, such as host
/// troubles). A list of 1,000 items costs milliseconds to build and megabytes to hold; the
/// same bytes cost a reference count, however many clients are slow to read them. A body is
/// reused only while the generation is unchanged, so a cached answer is never staler than
/// one rendered afresh.
class RenderCache {
  public:
    /// Read `generation` before rendering: a change racing with the render then makes the
    /// entry stale, never the reverse.
    RenderedList get(const std::string& scope, std::uint64_t generation, const std::string& variant,
                     const std::function<RenderedList()>& render) {
        {
            std::lock_guard lock(mutex_);
            auto it = entries_.find(scope);
            if (it != entries_.end() && it->second.generation == generation &&
                it->second.variant == variant) {
                return it->second.list;
            }
        }
        RenderedList list = render();
        std::lock_guard lock(mutex_);
        if (!entries_.contains(scope) && entries_.size() >= kMaxEntries) {
            // Scopes come and go (a deleted project's list would stay forever): drop any one.
            entries_.erase(entries_.begin());
        }
        auto& entry = entries_[scope];
        if (entry.list.body.empty() || entry.generation <= generation) {
            entry = Entry{generation, variant, list};
        }
        return list;
    }

  private:
    static constexpr std::size_t kMaxEntries = 256;
    struct Entry {
        std::uint64_t generation = 0;
        std::string variant;
        RenderedList list;
    };
    std::mutex mutex_;
    // One entry per scope, replaced when the data changes; at most kMaxEntries of them.
    std::map<std::string, Entry> entries_;
};

}  // namespace gpuhost::api

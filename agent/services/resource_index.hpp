#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "model/uuid.hpp"

namespace gpuhost::agent {

/// The in-memory copy of one kind of resource (projects, instances, filesystems), as
/// libvirt keeps its domain object list: by id, in creation order per owner (the project;
/// nil for projects themselves), and by name within a name scope, so reads and name checks
/// never walk every resource. An entry whose insert is still being made durable is
/// "pending": it counts for names (and for capacity, by whoever walks all()), but readers
/// do not see it. Not locked: its owner guards it with the lock that also guards the
/// changes it makes together with it.
///
/// Traits: `static model::Uuid id(const Entry&)`, `static model::Uuid owner(const Entry&)`,
/// `static std::string scope(const Entry&)` (names are unique within owner and scope) and
/// `static const std::string& name(const Entry&)`.
template <class Entry, class Traits>
class ResourceIndex {
  public:
    struct Slot {
        Entry entry;
        std::uint64_t order = 0;
        bool pending = false;
    };

    /// Adds an entry (pending: invisible until commit()). Its name must not be taken.
    Entry& add(Entry entry, bool pending) {
        auto id = Traits::id(entry);
        auto order = nextOrder_++;
        byOwner_[Traits::owner(entry)][order] = id;
        names_[nameKey(entry)] = id;
        auto& slot = byId_[id];
        slot = Slot{std::move(entry), order, pending};
        return slot.entry;
    }
    void commit(const model::Uuid& id) {
        if (auto it = byId_.find(id); it != byId_.end()) {
            it->second.pending = false;
        }
    }
    void erase(const model::Uuid& id) {
        auto it = byId_.find(id);
        if (it == byId_.end()) {
            return;
        }
        auto owner = byOwner_.find(Traits::owner(it->second.entry));
        if (owner != byOwner_.end()) {
            owner->second.erase(it->second.order);
            if (owner->second.empty()) {
                byOwner_.erase(owner);
            }
        }
        names_.erase(nameKey(it->second.entry));
        byId_.erase(it);
    }

    /// Any entry, pending or not.
    Entry* find(const model::Uuid& id) {
        auto it = byId_.find(id);
        return it == byId_.end() ? nullptr : &it->second.entry;
    }
    const Entry* find(const model::Uuid& id) const {
        auto it = byId_.find(id);
        return it == byId_.end() ? nullptr : &it->second.entry;
    }
    bool isPending(const model::Uuid& id) const {
        auto it = byId_.find(id);
        return it != byId_.end() && it->second.pending;
    }
    /// The entry as `owner` may see it: committed and its own (never reveal another's).
    const Entry* visible(const model::Uuid& owner, const model::Uuid& id) const {
        auto it = byId_.find(id);
        if (it == byId_.end() || it->second.pending || Traits::owner(it->second.entry) != owner) {
            return nullptr;
        }
        return &it->second.entry;
    }
    /// The owner's committed entries, oldest first.
    std::vector<const Entry*> ofOwner(const model::Uuid& owner) const {
        std::vector<const Entry*> entries;
        auto it = byOwner_.find(owner);
        if (it == byOwner_.end()) {
            return entries;
        }
        entries.reserve(it->second.size());
        for (const auto& [order, id] : it->second) {
            const auto& slot = byId_.at(id);
            if (!slot.pending) {
                entries.push_back(&slot.entry);
            }
        }
        return entries;
    }
    /// Calls `visit(entry)` for each of the owner's entries, pending ones included.
    template <class Visit>
    void forEachOfOwner(const model::Uuid& owner, Visit&& visit) const {
        if (auto it = byOwner_.find(owner); it != byOwner_.end()) {
            for (const auto& [order, id] : it->second) {
                visit(byId_.at(id).entry);
            }
        }
    }
    /// How many entries the owner has, pending ones included (quotas count what is being made).
    std::size_t countOfOwner(const model::Uuid& owner) const {
        auto it = byOwner_.find(owner);
        return it == byOwner_.end() ? 0 : it->second.size();
    }
    bool nameTaken(const model::Uuid& owner, const std::string& scope, const std::string& name) const {
        return names_.contains(std::make_tuple(owner, scope, name));
    }

    /// Every slot (pending ones too), by id.
    const std::map<model::Uuid, Slot>& all() const { return byId_; }
    std::size_t size() const { return byId_.size(); }

  private:
    using NameKey = std::tuple<model::Uuid, std::string, std::string>;
    static NameKey nameKey(const Entry& entry) {
        return {Traits::owner(entry), Traits::scope(entry), Traits::name(entry)};
    }

    std::map<model::Uuid, Slot> byId_;
    std::map<model::Uuid, std::map<std::uint64_t, model::Uuid>> byOwner_;
    std::map<NameKey, model::Uuid> names_;
    std::uint64_t nextOrder_ = 0;
};

}  // namespace gpuhost::agent

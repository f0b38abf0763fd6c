// InstanceService: cluster members, admitted and removed as a group.
#include <algorithm>

#include "log.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

Instance newMember(const model::Uuid& project, const MemberRequest& member) {
    Instance instance;
    instance.projectId = project;
    instance.name = member.request.name;
    instance.type = member.request.type;
    instance.image = member.request.image;
    instance.userData = member.request.userData;
    instance.filesystems = member.request.filesystems;
    instance.tags = member.request.tags;
    instance.owner = member.owner;
    instance.createdAt =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    return instance;
}

}  // namespace

asio::awaitable<Result<std::vector<Instance>>> InstanceService::createGroup(
    const model::Uuid& project, std::vector<MemberRequest> members) {
    if (members.empty()) {
        co_return std::vector<Instance>{};
    }
    std::vector<const model::InstanceType*> types;
    for (const auto& member : members) {
        if (auto valid = checkAgainstCatalog(member.request); !valid) {
            co_return valid.error();
        }
        if (!member.request.filesystems.empty()) {
            co_return Error::invalid("filesystems", "cluster members do not attach filesystems yet");
        }
        types.push_back(catalog_.findInstanceType(member.request.type));
    }
    co_await learnHosts();
    std::vector<Instance> group;
    {
        auto locked = table_.lock();
        if (!hosts_.anyUsable()) {
            co_return Error{
                ErrorCode::Unavailable, "no hypervisor host is reachable (libvirt down); retry", {}};
        }
        if (auto room = instanceRoomLocked(project, members.size()); !room) {
            co_return room.error();
        }
        for (const auto& member : members) {
            auto scope = member.owner.clusterId.str();
            bool twice = std::count_if(members.begin(), members.end(), [&](const MemberRequest& other) {
                             return other.owner.clusterId == member.owner.clusterId &&
                                    other.request.name == member.request.name;
                         }) > 1;
            if (twice || table_.index().nameTaken(project, scope, member.request.name)) {
                co_return Error{ErrorCode::Conflict,
                                "the cluster already has a member named " + member.request.name, "name"};
            }
        }
        auto holdings = table_.holdingsLocked(catalog_, hosts_);
        auto admitted = hosts_.admitGroup(types, holdings);
        std::string shortage;
        if (!admitted) {
            // Every member is out of stock with the group; the first type that does not fit on
            // its own says why, named, so a small member does not seem to need its GPUs.
            shortage = "the group of " + std::to_string(members.size()) + " does not fit as a whole";
            for (const auto* type : types) {
                if (!hosts_.admit(*type, false, HostRegistry::kNoHost, holdings, {})) {
                    shortage +=
                        ": " + type->name + ": " + hosts_.shortage(*type, HostRegistry::kNoHost, holdings);
                    break;
                }
            }
        }
        for (std::size_t i = 0; i < members.size(); ++i) {
            auto instance = newMember(project, members[i]);
            instance.id = freshIdLocked();
            if (admitted) {
                instance.state = InstanceState::Creating;
                instance.host = hosts_.binding((*admitted)[i].host).name;
                instance.gpus = (*admitted)[i].gpus;
            } else {
                instance.state = InstanceState::OutOfStock;
                instance.reason = shortage;
            }
            table_.addLocked(instance, true).admitting = true;
            group.push_back(std::move(instance));
        }
    }
    auto insert = [this, group] { return store_.insertInstances(group); };
    auto stored = co_await storePool_.run(std::move(insert));
    {
        auto locked = table_.lock();
        for (const auto& instance : group) {
            if (!stored) {
                table_.eraseLocked(instance.id);
                continue;
            }
            table_.index().commit(instance.id);
            table_.endChangeLocked(instance.id);
        }
    }
    if (!stored) {
        co_return stored.error();
    }
    log::info("instance group admitted", {{"cluster", members.front().owner.clusterId.str()},
                                          {"members", std::to_string(group.size())},
                                          {"state", std::string(nameOf(group.front().state))}});
    for (const auto& instance : group) {
        if (instance.state == InstanceState::Creating) {
            controller_.schedule(instance.id, Converge);
        }
    }
    co_return group;
}

asio::awaitable<Result<void>> InstanceService::deleteMembers(const model::Uuid& cluster,
                                                             std::vector<model::Uuid> ids) {
    std::vector<InstanceUpdate> updates;
    auto belongs = [&](const InstanceEntry& entry) {
        return entry.instance.owner && entry.instance.owner->clusterId == cluster &&
               (ids.empty() || std::find(ids.begin(), ids.end(), entry.instance.id) != ids.end());
    };
    // Members with a change in flight are waited for one by one; then all go in one write.
    for (const auto& id : table_.select(belongs)) {
        co_await table_.whenSettled(id, [] { return true; });
    }
    std::vector<model::Uuid> marked;
    {
        auto locked = table_.lock();
        std::vector<model::Uuid> candidates;
        for (const auto& [id, slot] : table_.index().all()) {
            if (belongs(slot.entry) && !slot.pending) {
                candidates.push_back(id);
            }
        }
        for (const auto& id : candidates) {
            auto& entry = *table_.index().find(id);
            if (entry.admitting || entry.instance.state == InstanceState::Deleting) {
                continue;
            }
            entry.admitting = true;
            entry.pending = InstanceState::Deleting;
            updates.push_back({id, InstanceState::Deleting, entry.instance.ip, "", std::nullopt});
            marked.push_back(id);
        }
    }
    Result<void> stored;
    if (!updates.empty()) {
        auto write = [this, updates] { return store_.updateInstances(updates); };
        stored = co_await storePool_.run(std::move(write));
    }
    {
        auto locked = table_.lock();
        for (const auto& id : marked) {
            if (auto* entry = table_.index().find(id); entry != nullptr && stored) {
                entry->instance.state = InstanceState::Deleting;
                entry->instance.reason.clear();
            }
            table_.endChangeLocked(id);
        }
    }
    if (!stored) {
        co_return stored.error();
    }
    for (const auto& id : marked) {
        controller_.schedule(id, Converge);
    }
    co_return Result<void>{};
}

std::vector<Instance> InstanceService::members(const model::Uuid& cluster) const {
    std::vector<std::pair<model::Timestamp, Instance>> found;
    {
        auto troubles = hosts_.troubles();
        auto shared = table_.share();
        for (const auto& [id, slot] : table_.index().all()) {
            const auto& instance = slot.entry.instance;
            if (!slot.pending && instance.owner && instance.owner->clusterId == cluster) {
                found.emplace_back(instance.createdAt, visible(instance, troubles));
            }
        }
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Instance> shown;
    for (auto& [at, instance] : found) {
        shown.push_back(std::move(instance));
    }
    return shown;
}

}  // namespace gpuhost::agent

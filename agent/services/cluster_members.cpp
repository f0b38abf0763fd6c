#include "services/cluster_members.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace gpuhost::agent {

using model::Instance;
using model::InstanceOwner;
using model::InstanceState;

namespace {

MemberRequest request(const model::Cluster& cluster, InstanceOwner owner, const std::string& type,
                      const std::string& image, unsigned roleCount) {
    MemberRequest member;
    member.owner = std::move(owner);
    member.request.name = memberName(cluster, member.owner, roleCount);
    member.request.type = type;
    member.request.image = image;
    return member;
}

InstanceOwner ownerFor(const model::Cluster& cluster, std::string role, std::string pool, unsigned index) {
    return InstanceOwner{cluster.id,      std::string(model::nameOf(cluster.kind)),
                         cluster.name,    std::move(pool),
                         std::move(role), index};
}

// Keeps the `count` lowest indices of `group` (a role's or a pool's members); the rest leave.
void compare(const std::vector<const Instance*>& group, unsigned count, std::vector<unsigned>& missing,
             std::vector<Instance>& retire) {
    std::set<unsigned> kept;
    std::vector<const Instance*> sorted = group;
    std::sort(sorted.begin(), sorted.end(),
              [](const Instance* a, const Instance* b) { return a->owner->index < b->owner->index; });
    for (const auto* member : sorted) {
        if (kept.size() < count && !kept.contains(member->owner->index)) {
            kept.insert(member->owner->index);
        } else {
            retire.push_back(*member);
        }
    }
    for (unsigned index = 0; kept.size() + missing.size() < count; ++index) {
        if (!kept.contains(index)) {
            missing.push_back(index);
        }
    }
}

}  // namespace

std::string memberName(const model::Cluster& cluster, const InstanceOwner& owner, unsigned roleCount) {
    if (!owner.nodePool.empty()) {
        return cluster.name + "-" + owner.nodePool + "-" + std::to_string(owner.index);
    }
    if (roleCount <= 1) {
        return cluster.name + "-" + owner.role;
    }
    return cluster.name + "-" + owner.role + "-" + std::to_string(owner.index);
}

std::size_t longestMemberName(const model::Cluster& cluster, const std::vector<RoleSlot>& roles,
                              unsigned maxPoolCount) {
    std::size_t longest = 0;
    for (const auto& role : roles) {
        auto owner = ownerFor(cluster, role.role, "", role.count == 0 ? 0 : role.count - 1);
        longest = std::max(longest, memberName(cluster, owner, role.count).size());
    }
    for (const auto& pool : cluster.pools) {
        auto owner = ownerFor(cluster, "worker", pool.name, maxPoolCount == 0 ? 0 : maxPoolCount - 1);
        longest = std::max(longest, memberName(cluster, owner, 0).size());
    }
    return longest;
}

MemberPlan planMembers(const model::Cluster& cluster, const std::vector<RoleSlot>& roles,
                       const std::string& image, const std::vector<Instance>& members) {
    MemberPlan plan;
    std::map<std::string, std::vector<const Instance*>> byRole;
    std::map<std::string, std::vector<const Instance*>> byPool;
    for (const auto& member : members) {
        if (!member.owner || member.state == InstanceState::Deleting) {
            continue;
        }
        if (cluster.deleting) {
            plan.retire.push_back(member);
        } else if (member.owner->nodePool.empty()) {
            byRole[member.owner->role].push_back(&member);
        } else {
            byPool[member.owner->nodePool].push_back(&member);
        }
    }
    if (cluster.deleting) {
        return plan;
    }
    for (const auto& role : roles) {
        std::vector<unsigned> missing;
        compare(byRole[role.role], role.count, missing, plan.retire);
        byRole.erase(role.role);
        for (unsigned index : missing) {
            plan.create.push_back(
                request(cluster, ownerFor(cluster, role.role, "", index), role.type, image, role.count));
        }
    }
    for (const auto& pool : cluster.pools) {
        std::vector<unsigned> missing;
        compare(byPool[pool.name], pool.count, missing, plan.retire);
        byPool.erase(pool.name);
        for (unsigned index : missing) {
            plan.create.push_back(
                request(cluster, ownerFor(cluster, "worker", pool.name, index), pool.type, image, 0));
        }
    }
    // Roles and pools the spec no longer has.
    for (auto* groups : {&byRole, &byPool}) {
        for (const auto& [name, group] : *groups) {
            for (const auto* member : group) {
                plan.retire.push_back(*member);
            }
        }
    }
    std::sort(plan.retire.begin(), plan.retire.end(),
              [](const Instance& a, const Instance& b) { return a.owner->index > b.owner->index; });
    return plan;
}

}  // namespace gpuhost::agent

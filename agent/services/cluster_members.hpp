#pragma once

#include <string>
#include <vector>

#include "model/cluster.hpp"
#include "model/instance.hpp"
#include "services/cluster_kind.hpp"
#include "services/instance_service.hpp"

namespace gpuhost::agent {

/// What it takes to make a cluster's members match its spec.
struct MemberPlan {
    std::vector<MemberRequest> create;    // missing members, admitted together
    std::vector<model::Instance> retire;  // members beyond the spec (not yet deleting), highest index first
};

/// The instance name (and hostname) of a member: <cluster>-<role>[-<index>] for roles, with
/// no index for a role of one; <cluster>-<pool>-<index> for pool nodes.
std::string memberName(const model::Cluster& cluster, const model::InstanceOwner& owner, unsigned roleCount);

/// The longest member name the spec can give (its pools at their largest index), for the
/// 63-character hostname check.
std::size_t longestMemberName(const model::Cluster& cluster, const std::vector<RoleSlot>& roles,
                              unsigned maxPoolCount);

/// Pure: compares the spec (roles and pools) with the members. A pool that shrinks loses its
/// highest indices; one that grows takes the lowest free ones, so Slurm node names stay in
/// <pool>-[0-(max-1)]. Members already deleting count as gone. A deleting cluster keeps none.
MemberPlan planMembers(const model::Cluster& cluster, const std::vector<RoleSlot>& roles,
                       const std::string& image, const std::vector<model::Instance>& members);

}  // namespace gpuhost::agent

#pragma once

#include "model/cluster.hpp"
#include "services/cluster_kind.hpp"

namespace gpuhost::agent {

/// The status and nodes of a cluster as shown: derived from the spec, the members' states
/// and the scheduler's last report (cluster_views.cpp). Pure.
model::ClusterView viewOf(const ClusterState& state, const ClusterKindDriver& kind);
/// Whether every member the spec asks for runs and the scheduler counts each node usable.
bool allNodesReady(const ClusterState& state, const ClusterKindDriver& kind);

}  // namespace gpuhost::agent

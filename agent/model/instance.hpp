#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/gpu.hpp"
#include "model/instance_state.hpp"
#include "model/project.hpp"
#include "model/uuid.hpp"
#include "model/validation.hpp"

namespace gpuhost::model {

/// The default image of POST /instances, as in Atlas.
inline constexpr std::string_view kDefaultImage = "image://ubuntu22.04";

/// The cluster an instance belongs to (cluster members are created and deleted by their
/// cluster, never by the user). Shown read-only in the API.
struct InstanceOwner {
    Uuid clusterId;
    std::string clusterKind;  // "slurm" or "kubernetes"
    std::string clusterName;
    std::string nodePool;  // empty for roles outside a pool (controller, control plane)
    std::string role;      // "controller", "login", "worker", "control-plane"
    unsigned index = 0;    // the member's number within its pool or role

    bool operator==(const InstanceOwner&) const = default;
};

/// A VM as the API and the store know it. `state` is the last state the agent
/// observed or is driving towards; the domain itself lives in libvirt.
struct Instance {
    Uuid id;
    Uuid projectId;
    std::string name;
    std::string type;
    std::string image;     // image://<name>, as the user wrote it
    std::string userData;  // decoded bytes, passed to cloud-init unchanged
    bool ephemeral = false;
    bool preemptible = false;
    std::vector<Uuid> filesystems;
    Tags tags;
    InstanceState state = InstanceState::Creating;
    std::optional<std::string> ip;
    std::string reason;  // why it is in error/stopped when the user did not ask for it
    Timestamp createdAt{};
    std::string host;                    // the hypervisor host it lives on ("" until placed)
    std::vector<PciAddress> gpus;        // GPUs it holds now (function 0 of each), sorted
    std::optional<InstanceOwner> owner;  // set for cluster members: names are unique per owner
};

/// A validated request to create an instance (type and image still to be resolved
/// against the operator's catalog).
struct CreateInstance {
    std::string name;
    std::string type;
    std::string image{kDefaultImage};
    std::string userData;
    bool ephemeral = false;
    bool preemptible = false;
    std::vector<Uuid> filesystems;
    Tags tags;
};

/// "image://ubuntu22.04" → "ubuntu22.04"; InvalidArgument naming `field` otherwise.
Result<std::string> parseImageReference(std::string_view reference, const std::string& field = "image");

}  // namespace gpuhost::model

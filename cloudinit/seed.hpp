#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"
#include "model/uuid.hpp"

namespace gpuhost::cloudinit {

/// NoCloud meta-data: instance-id is the instance's UUID (a new id means a new first
/// boot to cloud-init), local-hostname its validated name.
std::string metaData(const model::Uuid& instanceId, std::string_view hostname);

/// network-config v2 for one NIC, matched by MAC address and renamed eth0. cloud-init
/// 22.4 renders ifupdown on Debian, where a wildcard name match is ignored.
std::string networkConfig(std::string_view macAddress);

/// A part the agent adds to the user's userData (filesystem mounts, cluster bootstrap).
struct Part {
    std::string contentType;  // e.g. text/cloud-config
    std::string filename;     // shown in cloud-init's logs
    std::string content;
};

/// A shared filesystem to mount in the guest: virtiofs `tag` at /mnt/<name>.
struct Mount {
    std::string tag;   // the filesystem's id
    std::string name;  // a validated resource name ([a-z0-9-]): safe in a path and fstab
};

/// The agent's cloud-config part that mounts `mounts`: in bootcmd, so before any of the
/// user's runcmd or scripts, on every boot; plus an fstab line each (nofail), so the
/// system mounts them itself too (e.g. once cloud-init is gone). Empty list: nullopt.
std::optional<Part> mountPart(const std::vector<Mount>& mounts);

/// The content type cloud-init would give these bytes, from their first line
/// (#cloud-config, #!, #cloud-boothook, #include, ## template: jinja, …).
std::string contentTypeOf(std::string_view userData);

/// The user-data file. With no agent parts the user's bytes pass through unchanged.
/// Otherwise a MIME multipart/mixed message holds the user's bytes and each agent part,
/// every part base64-encoded (the boundary contains '.', which base64 never does, so
/// no content can end a part early); the user's YAML is never re-serialised. Agent
/// cloud-config parts carry a merge type that appends lists and merges dictionaries.
/// gzip or MIME userData cannot be combined with agent parts (InvalidArgument).
model::Result<std::string> userData(std::string_view userBytes, const std::vector<Part>& agentParts);

}  // namespace gpuhost::cloudinit

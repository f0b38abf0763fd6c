#pragma once

#include <span>
#include <string>
#include <string_view>

#include "model/error.hpp"

namespace gpuhost::model {

inline constexpr std::size_t kMaxPosixUsernameLength = 32;

/// Cluster user names as every node's `useradd` will see them: `[a-z_][a-z0-9_-]{0,31}` (the portable
/// subset: no uppercase, no dots, no trailing '$'), and not a name the guest image already uses.
Result<void> validatePosixUsername(std::string_view name, const std::string& field = "username");

/// True for names that belong to the guest's system accounts or groups (see reservedUsernames()) and
/// for the reserved prefixes `systemd-` and `libvirt-`.
bool isReservedUsername(std::string_view name);

/// The exact names refused, sorted. Users of Debian 12's base-passwd and of the packages our cluster
/// images install (munge, slurm, dbus, openssh, polkit, qemu-guest-agent, chrony), the images' default
/// login user, and Debian's static system groups: `useradd` creates a same-named group and fails
/// when one exists, and a member of `sudo`, `adm` or `disk` by name would gain its rights.
std::span<const std::string_view> reservedUsernames();

}  // namespace gpuhost::model

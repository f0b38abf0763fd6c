#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cluster_spec.hpp"
#include "model/error.hpp"
#include "seed.hpp"

namespace gpuhost::slurm {

/// A cluster user as every machine of the cluster gets it from cloud-init: a locked-password
/// account with a bash shell, the same uid everywhere, its authorized_keys, and passwordless
/// sudo or nothing. The generators check the name and each key again.
struct NodeUser {
    std::string name;
    unsigned uid = 0;
    std::vector<std::string> sshKeys;  // authorized_keys lines
    bool sudo = false;
};

/// The three kinds of machine of a Slurm cluster.
enum class Role { Controller, Node, Login };

struct BootstrapOptions {
    /// Let cloud-init install the packages (`packages:`). The Slurm dev image has them baked
    /// in (images/build-dev-image.sh --slurm), so the default is not to.
    bool installPackages = false;
    /// Debian package names; empty: defaultPackages(role).
    std::vector<std::string> packages;
};

/// slurmctld + slurm-client + munge (the controller is also the default login node),
/// slurmd + munge, slurm-client + munge.
std::vector<std::string> defaultPackages(Role role);

/// The controller's cloud-config part (gpuhost-slurm-controller.cfg): the munge key,
/// /etc/slurm/gres.conf and cgroup.conf, the users, and a munge restart. Not slurm.conf,
/// which names the controller's own address: the agent writes it through the guest agent
/// once the address is known and starts slurmctld itself. spec.controllerAddress may be
/// empty here.
model::Result<cloudinit::Part> controllerPart(const ClusterSpec& spec, const Layout& layout,
                                              std::string_view mungeKey, const std::vector<NodeUser>& users,
                                              const BootstrapOptions& options = {});

/// A slurmd node's part (gpuhost-slurm-node.cfg), made once spec.controllerAddress is known:
/// the munge key, slurmdDropIn(spec, layout, poolName, index) as
/// /etc/systemd/system/slurmd.service.d/gpuhost.conf, the users; then daemon-reload, a munge
/// restart, and slurmd enabled and (re)started.
model::Result<cloudinit::Part> nodePart(const ClusterSpec& spec, const Layout& layout, const std::string& poolName,
                                        unsigned index, std::string_view mungeKey,
                                        const std::vector<NodeUser>& users, const BootstrapOptions& options = {});

/// A separate login node's part (gpuhost-slurm-login.cfg): the munge key, /etc/slurm/slurm.conf
/// (slurmConf(spec, layout)), the users, and a munge restart.
model::Result<cloudinit::Part> loginPart(const ClusterSpec& spec, const Layout& layout, std::string_view mungeKey,
                                         const std::vector<NodeUser>& users, const BootstrapOptions& options = {});

/// Cluster users carry this GECOS field on every node: the agent removes only accounts it
/// made (never one a user with sudo made by hand, nor a system account).
inline constexpr std::string_view kUserGecos = "gpuhost cluster user";
/// The sudo rule of a user with sudo, in a file of its own (removable when sudo is taken away).
std::string sudoersPath(const std::string& username);
std::string sudoersRule(const std::string& username);

}  // namespace gpuhost::slurm

#pragma once

#include <map>
#include <mutex>
#include <string>

#include "cluster_spec.hpp"
#include "services/catalog.hpp"
#include "services/cluster_kind.hpp"

namespace gpuhost::agent {

/// How this region runs Slurm (config: `slurm:`).
struct SlurmOptions {
    std::string image =
        "image://debian12-slurm";   // has slurmctld, slurmd, munge (images/build-dev-image.sh --slurm)
    std::string version = "22.05";  // what the image ships; the only version offered
    bool installPackages = false;   // cloud-init installs the packages (images without them)
    std::chrono::milliseconds commandTimeout{60 * 1000};
};

/// Slurm on the cluster core: a controller VM (slurmctld; the login node unless separate
/// ones are asked for), login VMs, and dynamic slurmd nodes (`slurmd -Z`, configless) in
/// pools. Munge key and static files come through cloud-init; slurm.conf on the controller
/// names the controller's own address, so the agent writes it through the guest agent once
/// the VM has one, and starts slurmctld. Node states come from `sinfo --json`; nodes leave
/// by drain, then `scontrol delete nodename=`, then their VM goes.
class SlurmKind final : public ClusterKindDriver {
  public:
    SlurmKind(const Catalog& catalog, SlurmOptions options);

    model::ClusterKind kind() const override { return model::ClusterKind::Slurm; }
    std::string defaultVersion() const override { return options_.version; }
    model::Result<std::string> newSecret() const override;
    model::Result<void> validate(const model::Cluster& cluster) const override;
    std::string image() const override { return options_.image; }
    std::vector<RoleSlot> roles(const model::Cluster& cluster) const override;
    std::string nodeName(const model::InstanceOwner& owner) const override;
    void forget(const model::Uuid& cluster) override;

    model::Result<std::optional<cloudinit::Part>> bootstrapPart(const ClusterState& cluster,
                                                                const model::Instance& member) const override;
    boost::asio::awaitable<StepOutcome> bootstrap(const ClusterState& cluster) override;
    boost::asio::awaitable<model::Result<SchedulerReport>> observe(const ClusterState& cluster) override;
    boost::asio::awaitable<model::Result<bool>> retire(const ClusterState& cluster,
                                                       const std::vector<model::Instance>& leaving) override;

    /// The generators' view of a cluster, with the controller reached at `controllerAddress`.
    model::Result<slurm::ClusterSpec> specOf(const ClusterState& cluster,
                                             const std::string& controllerAddress) const;

  private:
    /// slurm.conf on the controller says what it should; slurmctld runs it.
    boost::asio::awaitable<StepOutcome> configureController(const ClusterState& cluster,
                                                            const model::Instance& controller);

    const Catalog& catalog_;
    SlurmOptions options_;
    std::mutex mutex_;
    std::map<model::Uuid, std::string> controllerConf_;  // slurm.conf known to be in place and running
};

}  // namespace gpuhost::agent

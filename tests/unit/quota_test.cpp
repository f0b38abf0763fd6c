// Quotas (config `quotas:`): their parsing, and the cluster limits over fake hosts: clusters
// per project, cluster VMs counted against the project's instances at create and scale-up,
// users per cluster. Each refusal is QuotaExceeded naming the limit, and nothing is stored.
// Instances and filesystems are held to theirs through the daemon (integration/quota_test).
#include <doctest/doctest.h>

#include "cluster_world.hpp"
#include "config.hpp"
#include "unit/config_helpers.hpp"

namespace gpuhost {

using model::ClusterKind;
using model::ClusterPool;
using model::ErrorCode;
using test::ClusterWorld;

TEST_CASE("quotas config: defaults, a project's override on top of them, region ceilings, bad keys named") {
    const std::string base = "state_dir: /var/lib/gpuhost\n" + test::kAuth;
    auto defaults = agent::parseConfig(base, "/etc/gpuhost").quotas;
    CHECK(defaults.project.instances == 200);
    CHECK(defaults.project.filesystemBytes == 100ull << 40);
    CHECK(defaults.region.instances == 5000);
    const std::string project = "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11";
    auto config = agent::parseConfig(base +
                                         "quotas:\n  project: {instances: 10, filesystem_bytes: 2Ti}\n"
                                         "  projects:\n    " +
                                         project + ": {instances: 50}\n  region: {clusters: 3}\n",
                                     "/etc/gpuhost");
    auto id = *model::Uuid::parse(project);
    CHECK(config.quotas.of(id).instances == 50);
    CHECK(config.quotas.of(id).filesystemBytes == 2ull << 40);  // the rest from project:
    CHECK(config.quotas.of(model::Uuid::random()).instances == 10);
    CHECK(config.quotas.keyOf(id, "instances") == "quotas.projects." + project + ".instances");
    CHECK(config.quotas.region.clusters == 3);
    CHECK(test::configErrorOf(base + "quotas:\n  project: {instance: 3}\n").find("quotas.project") !=
          std::string::npos);
    CHECK(
        test::configErrorOf(base + "quotas:\n  project: {instances: 0}\n").find("quotas.project.instances") !=
        std::string::npos);
    CHECK(test::configErrorOf(base + "quotas:\n  projects:\n    not-a-uuid: {instances: 1}\n")
              .find("quotas.projects") != std::string::npos);
}

TEST_CASE("cluster quotas: clusters per project, cluster VMs as instances at create and scale-up, users") {
    ClusterWorld w;
    w.clusterOptions.quotas.project.clusters = 1;
    w.clusterOptions.quotas.project.instances = 4;
    w.clusterOptions.quotas.project.clusterUsers = 1;
    w.start();  // with these limits

    // 5 VMs (a controller and 4 nodes) do not fit 4 instances: refused, nothing stored.
    auto tooBig = w.create("big", {ClusterPool{"cpu", "cpu.small", 4, {}}});
    REQUIRE_FALSE(tooBig.ok());
    CHECK(tooBig.error().code == ErrorCode::QuotaExceeded);
    CHECK(tooBig.error().field == "quotas.project.instances");
    CHECK(w.clusterStore.loadClusters()->empty());

    auto created = w.create("hpc", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE(created.ok());
    auto id = created->cluster.id;
    w.world.waitFor([&] { return w.members(id).size() == 2; });

    auto second = w.create("second", {ClusterPool{"cpu", "cpu.small", 1, {}}});
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::QuotaExceeded);
    CHECK(second.error().field == "quotas.project.clusters");

    // 2 VMs now: to 3 nodes (4 VMs) fits, to 4 nodes does not; the pool keeps its count.
    auto scale = [&](unsigned count) {
        return w.world.await(w.api().scalePool(w.world.project, ClusterKind::Slurm, id, "cpu", count));
    };
    auto over = scale(4);
    REQUIRE_FALSE(over.ok());
    CHECK(over.error().field == "quotas.project.instances");
    CHECK(w.view(id).pools.at(0).pool.count == 1);
    CHECK(scale(3).ok());
    auto pool = w.world.await(
        w.api().addPool(w.world.project, ClusterKind::Slurm, id, ClusterPool{"gpu", "cpu.small", 1, {}}));
    REQUIRE_FALSE(pool.ok());
    CHECK(pool.error().code == ErrorCode::QuotaExceeded);

    auto addUser = [&](const std::string& name) {
        return w.world.await(
            w.api().addUser(w.world.project, ClusterKind::Slurm, id, model::ClusterUser{name, {}, false, 0}));
    };
    CHECK(addUser("alice").ok());
    auto bob = addUser("bob");
    REQUIRE_FALSE(bob.ok());
    CHECK(bob.error().field == "quotas.project.cluster_users");
    CHECK(w.view(id).cluster.users.size() == 1);
}

}  // namespace gpuhost

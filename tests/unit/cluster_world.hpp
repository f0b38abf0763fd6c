#pragma once

// A World (instances over fake hosts) with the cluster machinery on top and fake Slurm
// guests behind the guest agent.
#include "fakes/fake_cluster_store.hpp"
#include "fakes/fake_slurm_guests.hpp"
#include "hypervisor.hpp"
#include "instance_world.hpp"
#include "services/cluster_module.hpp"
#include "services/instance_provisioner.hpp"
#include "services/slurm_kind.hpp"

namespace gpuhost::test {

inline agent::SlurmOptions testSlurmOptions() {
    agent::SlurmOptions options;
    options.image = "image://ubuntu22.04";
    options.commandTimeout = std::chrono::seconds(5);
    return options;
}

inline agent::ClusterOptions testClusterOptions() {
    agent::ClusterOptions options;
    options.maxNodesPerPool = 8;
    options.maxNodesPerCluster = 16;
    options.observeInterval = std::chrono::milliseconds(50);
    options.drainRecheck = std::chrono::milliseconds(50);
    options.bootRecheck = std::chrono::milliseconds(50);
    return options;
}

/// A World with the cluster machinery over `Guests` (a fake guest agent) and the given kinds.
/// The kinds live in the derived world, which calls start() once they exist.
template <class Guests>
struct ClusterWorldOf {
    Guests guests;
    World world;
    FakeClusterStore clusterStore;
    std::unique_ptr<agent::ClusterModule> clusters;
    agent::ClusterOptions clusterOptions = testClusterOptions();  // what start() builds with
    std::vector<std::unique_ptr<agent::ClusterModule>>
        retired;  // stopped: notices already posted may still reach them

    explicit ClusterWorldOf(std::vector<FakeHost> fakes)
        : world(std::move(fakes), std::chrono::milliseconds(500), {}, &guests) {}
    ClusterWorldOf(const ClusterWorldOf&) = delete;
    ClusterWorldOf& operator=(const ClusterWorldOf&) = delete;
    virtual ~ClusterWorldOf() { shutdown(); }
    /// Stops the machinery and its I/O; derived worlds call it first, as their kinds go
    /// before this base does.
    void shutdown() {
        if (clusters) {
            clusters->stop();
        }
        world.stopIo();  // no handler of theirs runs once they are gone
    }
    virtual std::vector<agent::ClusterKindDriver*> kinds() = 0;
    /// A fresh cluster machinery over the same stores (what a restart does).
    void start() {
        if (clusters) {
            clusters->stop();
            retired.push_back(std::move(clusters));
        }
        clusters = std::make_unique<agent::ClusterModule>(
            clusterStore, world.pool, world.catalog, world.module, kinds(), world.ioc.get_executor(),
            clusterOptions,
            agent::RetryPolicy{std::chrono::milliseconds(20), std::chrono::milliseconds(200), 0.2});
        REQUIRE(clusters->loadBlocking().ok());
        clusters->start();
    }
    agent::ClusterApi& api() { return clusters->api(); }
    std::vector<model::Instance> members(const model::Uuid& id) { return world.service.members(id); }
    const model::Instance* member(const std::vector<model::Instance>& all, const std::string& role,
                                  const std::string& pool = "", unsigned index = 0) {
        for (const auto& m : all) {
            if (m.owner->role == role && m.owner->nodePool == pool && m.owner->index == index) {
                return &m;
            }
        }
        return nullptr;
    }
};

struct ClusterWorld : ClusterWorldOf<FakeSlurmGuests> {
    agent::SlurmKind slurm{world.catalog, testSlurmOptions()};

    explicit ClusterWorld(std::vector<FakeHost> fakes = {{"local", {16, 64ull << 30, {}}, {}}})
        : ClusterWorldOf(std::move(fakes)) {
        start();
    }
    ~ClusterWorld() override { shutdown(); }
    std::vector<agent::ClusterKindDriver*> kinds() override { return {&slurm}; }

    model::Result<model::ClusterView> create(const std::string& name, std::vector<model::ClusterPool> pools) {
        agent::CreateCluster request;
        request.name = name;
        request.pools = std::move(pools);
        return world.await(api().create(world.project, model::ClusterKind::Slurm, request));
    }
    model::ClusterView view(const model::Uuid& id) {
        auto got = api().get(world.project, model::ClusterKind::Slurm, id);
        REQUIRE(got.ok());
        return *got;
    }
    /// Boots every running member's guest and registers its slurmd with the controller
    /// (what the real first boot does), until `condition` holds.
    void runGuestsUntil(const model::Uuid& id, const std::function<bool()>& condition) {
        world.waitFor([&] {
            auto all = members(id);
            const auto* controller = member(all, "controller");
            for (const auto& m : all) {
                if (m.state == model::InstanceState::Running) {
                    guests.boot(drivers::domainName(m.id), m.name);
                    if (controller != nullptr && !m.owner->nodePool.empty() &&
                        guests.guest(drivers::domainName(controller->id)).slurmctld &&
                        !registered_.contains(m.id)) {
                        registered_.insert(m.id);
                        guests.registerNode(drivers::domainName(controller->id),
                                            m.owner->nodePool + "-" + std::to_string(m.owner->index));
                    }
                }
            }
            return condition();
        });
    }

  private:
    std::set<model::Uuid> registered_;
};

}  // namespace gpuhost::test

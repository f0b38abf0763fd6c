#pragma once

// A World with the cluster machinery, the Kubernetes kind, and fake Kubernetes guests.
#include "cluster_world.hpp"
#include "fakes/fake_kubernetes_guests.hpp"
#include "services/kubernetes_kind.hpp"

namespace gpuhost::test {

inline agent::KubernetesOptions testKubernetesOptions() {
    agent::KubernetesOptions options;
    options.image = "image://ubuntu22.04";
    options.commandTimeout = std::chrono::seconds(5);
    options.caValidity = std::chrono::hours(24);
    options.failedRollRecheck = std::chrono::milliseconds(100);
    return options;
}

struct KubernetesWorld : ClusterWorldOf<FakeKubernetesGuests> {
    agent::KubernetesKind kubernetes;
    bool autoInit = true;  // the control plane's kubeadm init succeeds once it boots
    bool autoJoin = true;  // workers join once the control plane is up

    explicit KubernetesWorld(agent::KubernetesOptions options = testKubernetesOptions(),
                             std::vector<FakeHost> fakes = {{"local", {16, 64ull << 30, {}}, {}}})
        : ClusterWorldOf(std::move(fakes)), kubernetes(world.catalog, std::move(options)) {
        start();
    }
    ~KubernetesWorld() override { shutdown(); }
    std::vector<agent::ClusterKindDriver*> kinds() override { return {&kubernetes}; }

    model::Result<model::ClusterView> create(const std::string& name, std::vector<model::ClusterPool> pools,
                                             std::string version = "1.31.2") {
        agent::CreateCluster request;
        request.name = name;
        request.version = std::move(version);
        request.pools = std::move(pools);
        return world.await(api().create(world.project, model::ClusterKind::Kubernetes, request));
    }
    model::ClusterView view(const model::Uuid& id) {
        auto got = api().get(world.project, model::ClusterKind::Kubernetes, id);
        REQUIRE(got.ok());
        return *got;
    }
    std::string domainOf(const model::Instance& member) { return drivers::domainName(member.id); }
    /// Boots every running member's guest; the control plane finishes kubeadm init and the
    /// workers join (as far as autoInit/autoJoin let them), until `condition` holds.
    void runGuestsUntil(const model::Uuid& id, const std::function<bool()>& condition) {
        world.waitFor([&] {
            auto all = members(id);
            const auto* controlPlane = member(all, "control-plane");
            for (const auto& m : all) {
                if (m.state != model::InstanceState::Running) {
                    continue;
                }
                guests.boot(domainOf(m));
                if (&m == controlPlane && autoInit && !guests.guest(domainOf(m)).apiServer) {
                    guests.initialize(domainOf(m));
                }
                if (!m.owner->nodePool.empty() && controlPlane != nullptr && autoJoin &&
                    guests.guest(domainOf(*controlPlane)).apiServer && !joined_.contains(m.id)) {
                    joined_.insert(m.id);
                    guests.join(domainOf(*controlPlane),
                                m.owner->nodePool + "-" + std::to_string(m.owner->index));
                }
            }
            return condition();
        });
    }

  private:
    std::set<model::Uuid> joined_;
};

}  // namespace gpuhost::test

#include "services/cluster_module.hpp"

#include "log.hpp"

namespace gpuhost::agent {

model::Result<std::optional<cloudinit::Part>> ClusterBootstrapContributor::partFor(
    const model::Instance& instance) const {
    if (!instance.owner) {
        return std::optional<cloudinit::Part>();
    }
    auto state = controller_.state(instance.owner->clusterId);
    if (!state) {
        return model::Error::internal("the cluster of this member is gone");
    }
    auto* kind = controller_.driver(state->entry.cluster.kind);
    if (kind == nullptr) {
        return model::Error::internal("no driver for this cluster's kind");
    }
    return kind->bootstrapPart(*state, instance);
}

ClusterModule::ClusterModule(ClusterStore& store, BlockingPool& storePool, const Catalog& catalog,
                             InstanceModule& instances, std::vector<ClusterKindDriver*> kinds,
                             boost::asio::any_io_executor executor, ClusterOptions options, RetryPolicy retry)
    : store_(store),
      instances_(instances),
      options_(std::move(options)),
      controller_(executor, table_, instances.service(), instances.controller(), instances.hosts(), store,
                  storePool, std::move(kinds), options_, retry),
      service_(table_, controller_, store, storePool, catalog, instances.service(), options_),
      contributor_(controller_) {
    instances.addSeedContributor(&contributor_);
    instances.addMemberObserver(controller_);
}

ClusterModule::~ClusterModule() {
    instances_.removeSeedContributor(&contributor_);
    instances_.removeMemberObserver(controller_);
}

model::Result<void> ClusterModule::loadBlocking() {
    auto clusters = store_.loadClusters();
    if (!clusters) {
        return clusters.error();
    }
    auto locked = table_.lock();
    for (auto& cluster : *clusters) {
        auto secret = store_.clusterSecret(cluster.id);
        if (!secret) {
            return secret.error();
        }
        auto kindState = store_.clusterKindState(cluster.id);
        if (!kindState) {
            return kindState.error();
        }
        table_.index().add(ClusterEntry{std::move(cluster), std::move(*secret), std::move(*kindState), {}},
                           false);
    }
    return {};
}

void ClusterModule::start() {
    controller_.start();
}

void ClusterModule::stop() {
    controller_.stop();
}

}  // namespace gpuhost::agent

#include "services/instance_module.hpp"

#include "log.hpp"

namespace gpuhost::agent {

InstanceModule::InstanceModule(InstanceStore& store, AgentMetadataStore& metadata, const Catalog& catalog,
                               BlockingPool& storePool, BlockingPool& hostPool,
                               std::vector<HostBinding> hosts, boost::asio::any_io_executor executor,
                               InstanceOptions options, RetryPolicy retry)
    : store_(store),
      metadata_(metadata),
      options_(std::move(options)),
      hosts_(withPools(std::move(hosts), hostPool), options_.hostOptions()),
      table_(store, storePool),
      images_(metadata, storePool, hosts_, executor),
      provisioner_(table_, hosts_, catalog, images_, {&mounts_}, options_),
      controller_(executor, table_, hosts_, catalog, provisioner_, retry),
      reconciler_(executor, table_, hosts_, catalog, controller_, images_, options_.resyncInterval),
      service_(table_, hosts_, catalog, store, storePool, controller_, options_) {}

std::vector<HostBinding> InstanceModule::withPools(std::vector<HostBinding> hosts, BlockingPool& fallback) {
    for (auto& host : hosts) {
        if (host.pool == nullptr) {
            host.pool = &fallback;
        }
        if (host.seeds == nullptr) {
            throw std::logic_error("host " + host.name + " has no seed writer");
        }
    }
    return hosts;
}

model::Result<void> InstanceModule::loadBlocking() {
    auto agent = metadata_.agentId();
    if (!agent) {
        return agent.error();
    }
    provisioner_.setAgentId(*agent);
    auto instances = store_.loadInstances();
    if (!instances) {
        return instances.error();
    }
    // Known before the first request when libvirt answers; else the first reconcile or
    // create asks again (the API serves meanwhile).
    for (std::size_t h = 0; h < hosts_.size(); ++h) {
        if (auto known = hosts_.refreshBlocking(h); !known) {
            log::warn("host not reachable at start",
                      {{"host", hosts_.binding(h).name}, {"error", known.error().message}});
        }
    }
    for (const auto& instance : *instances) {
        if (!instance.host.empty() && hosts_.indexOf(instance.host) == HostRegistry::kNoHost) {
            log::warn("instance on a host that is not configured (shown as error; delete forgets it)",
                      {{"instance", instance.id.str()}, {"host", instance.host}});
        }
    }
    table_.load(std::move(*instances));
    return {};
}

void InstanceModule::setFilesystems(const FilesystemDirectory* filesystems) {
    mounts_.setDirectory(filesystems);
    provisioner_.setFilesystems(filesystems);
    service_.setFilesystems(filesystems);
}

void InstanceModule::start() {
    reconciler_.start(provisioner_.agentId());
}

void InstanceModule::stop() {
    controller_.stop();
    reconciler_.stop();
}

}  // namespace gpuhost::agent

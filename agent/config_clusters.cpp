// The `clusters:` and `slurm:` sections.
#include <algorithm>

#include "config_yaml.hpp"

namespace gpuhost::agent::config_yaml {

void parseClusters(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "clusters", {"max_nodes_per_pool", "max_nodes_per_cluster", "controller_type"});
    if (node["max_nodes_per_pool"]) {
        config.clusters.maxNodesPerPool = static_cast<unsigned>(
            positiveInteger(node["max_nodes_per_pool"], "clusters.max_nodes_per_pool", 1024));
    }
    if (node["max_nodes_per_cluster"]) {
        config.clusters.maxNodesPerCluster = static_cast<unsigned>(
            positiveInteger(node["max_nodes_per_cluster"], "clusters.max_nodes_per_cluster", 4096));
    }
    if (node["controller_type"]) {
        config.clusters.controllerType = scalar(node["controller_type"], "clusters.controller_type");
        bool known = std::any_of(
            config.instanceTypes.begin(), config.instanceTypes.end(),
            [&](const model::InstanceType& t) { return t.name == config.clusters.controllerType; });
        if (!known) {
            fail("clusters.controller_type", "is not one of instance_types");
        }
    }
}

void parseSlurm(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "slurm", {"image", "version", "install_packages"});
    if (node["image"]) {
        config.slurm.image = scalar(node["image"], "slurm.image");
        if (!isCatalogName(config.slurm.image)) {
            fail("slurm.image", "must be an image name as in images:");
        }
    }
    if (node["version"]) {
        config.slurm.version = scalar(node["version"], "slurm.version");
        bool digitsAndDots = !config.slurm.version.empty() &&
                             std::all_of(config.slurm.version.begin(), config.slurm.version.end(),
                                         [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
        if (!digitsAndDots) {
            fail("slurm.version", "must be a Slurm version such as 22.05");
        }
    }
    if (node["install_packages"]) {
        config.slurm.installPackages = boolean(node["install_packages"], "slurm.install_packages");
    }
}

}  // namespace gpuhost::agent::config_yaml

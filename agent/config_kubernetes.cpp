// The `kubernetes:` section.
#include <algorithm>

#include "config_yaml.hpp"
#include "model/cidr.hpp"
#include "version.hpp"

namespace gpuhost::agent::config_yaml {

namespace {

std::vector<std::string> scalars(const YAML::Node& node, const std::string& key) {
    if (!node.IsSequence() || node.size() == 0) {
        fail(key, "must be a non-empty list");
    }
    std::vector<std::string> values;
    for (std::size_t i = 0; i < node.size(); ++i) {
        values.push_back(scalar(node[i], key + "[" + std::to_string(i) + "]"));
    }
    return values;
}

model::Ipv4Cidr cidr(const std::string& text, const std::string& key) {
    auto parsed = model::parseIpv4Cidr(text, key);
    if (!parsed) {
        fail(key, parsed.error().message);
    }
    return *parsed;
}

}  // namespace

void parseKubernetes(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "kubernetes",
                      {"image", "versions", "default_version", "pod_cidr", "service_cidr", "reserved_cidrs",
                       "install_packages", "apt_source", "apt_key", "package_revision", "cni_manifest",
                       "device_plugin_manifest", "token_ttl_s", "kubeconfig_validity_hours"});
    auto& k8s = config.kubernetes;
    if (node["image"]) {
        k8s.image = scalar(node["image"], "kubernetes.image");
        if (!isCatalogName(k8s.image)) {
            fail("kubernetes.image", "must be an image name as in images:");
        }
    }
    if (node["versions"]) {
        k8s.versions = scalars(node["versions"], "kubernetes.versions");
        for (const auto& minor : k8s.versions) {
            auto parsed = kubernetes::parseKubernetesVersion(minor + ".0", "kubernetes.versions");
            if (!parsed || !kubernetes::kubeadmApiVersion(*parsed)) {
                fail("kubernetes.versions",
                     "entries are minor versions kubeadm configs exist for, such as 1.31");
            }
        }
    }
    if (node["default_version"]) {
        k8s.defaultVersion = scalar(node["default_version"], "kubernetes.default_version");
    }
    auto defaultVersion =
        kubernetes::parseKubernetesVersion(k8s.defaultVersion, "kubernetes.default_version");
    if (!defaultVersion) {
        fail("kubernetes.default_version", defaultVersion.error().message);
    }
    k8s.defaultVersion = defaultVersion->text();
    auto minor = std::to_string(defaultVersion->major) + "." + std::to_string(defaultVersion->minor);
    if (std::find(k8s.versions.begin(), k8s.versions.end(), minor) == k8s.versions.end()) {
        fail("kubernetes.default_version", "is not in kubernetes.versions");
    }
    if (node["pod_cidr"]) {
        k8s.podCidr = scalar(node["pod_cidr"], "kubernetes.pod_cidr");
    }
    if (node["service_cidr"]) {
        k8s.serviceCidr = scalar(node["service_cidr"], "kubernetes.service_cidr");
    }
    if (node["reserved_cidrs"]) {
        k8s.reservedCidrs = scalars(node["reserved_cidrs"], "kubernetes.reserved_cidrs");
    }
    auto pods = cidr(k8s.podCidr, "kubernetes.pod_cidr");
    auto services = cidr(k8s.serviceCidr, "kubernetes.service_cidr");
    if (pods.overlaps(services)) {
        fail("kubernetes.service_cidr", "overlaps kubernetes.pod_cidr");
    }
    for (const auto& text : k8s.reservedCidrs) {
        auto reserved = cidr(text, "kubernetes.reserved_cidrs");
        if (reserved.overlaps(pods) || reserved.overlaps(services)) {
            fail("kubernetes.reserved_cidrs", text + " overlaps the default pod or service block");
        }
    }
    if (node["install_packages"]) {
        k8s.installPackages = boolean(node["install_packages"], "kubernetes.install_packages");
    }
    if (node["apt_source"]) {
        k8s.aptSource = scalar(node["apt_source"], "kubernetes.apt_source");
    }
    if (node["apt_key"]) {
        k8s.aptKey = scalar(node["apt_key"], "kubernetes.apt_key");
    }
    if (node["package_revision"]) {
        k8s.packageRevision = scalar(node["package_revision"], "kubernetes.package_revision");
    }
    if (node["cni_manifest"]) {
        k8s.cniManifest = scalar(node["cni_manifest"], "kubernetes.cni_manifest");
    }
    if (node["device_plugin_manifest"]) {
        k8s.devicePluginManifest =
            scalar(node["device_plugin_manifest"], "kubernetes.device_plugin_manifest");
    }
    if (node["token_ttl_s"]) {
        // kubeadm's bootstrap tokens: at least an hour, so slow (TCG) boots still join.
        auto ttl = positiveInteger(node["token_ttl_s"], "kubernetes.token_ttl_s", 7 * 24 * 3600);
        if (ttl < 3600) {
            fail("kubernetes.token_ttl_s", "must be at least 3600");
        }
        k8s.tokenTtl = std::chrono::seconds(ttl);
    }
    if (node["kubeconfig_validity_hours"]) {
        k8s.kubeconfigValidity = std::chrono::hours(positiveInteger(
            node["kubeconfig_validity_hours"], "kubernetes.kubeconfig_validity_hours", 24 * 365 * 5));
    }
}

}  // namespace gpuhost::agent::config_yaml

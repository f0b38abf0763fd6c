#include "kubeadm_config.hpp"

#include <yaml-cpp/yaml.h>

namespace gpuhost::kubernetes {

namespace {

using model::Result;

constexpr std::string_view kV1beta3 = "kubeadm.k8s.io/v1beta3";

// Every string value double-quoted: a value that reads as a bool or number in YAML 1.1
// ("on", "1.30") would not decode into kubeadm's string fields.
void field(YAML::Emitter& yaml, const char* key, std::string_view value) {
    yaml << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << std::string(value);
}

void stringList(YAML::Emitter& yaml, const char* key, const std::vector<std::string>& values) {
    yaml << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (const auto& value : values) {
        yaml << YAML::DoubleQuoted << value;
    }
    yaml << YAML::EndSeq;
}

void header(YAML::Emitter& yaml, std::string_view apiVersion, std::string_view kind) {
    field(yaml, "apiVersion", apiVersion);
    field(yaml, "kind", kind);
}

// nodeRegistration: the labels go to the kubelet as --node-labels (a map in v1beta3, a list
// of {name, value} in v1beta4); the taints are kubeadm's own field. No taints key when there
// are none: on a control-plane node kubeadm then adds its default taint.
void nodeRegistration(YAML::Emitter& yaml, bool v1beta3, const std::string& nodeName, const Labels& labels,
                      const std::vector<Taint>& taints) {
    yaml << YAML::Key << "nodeRegistration" << YAML::Value << YAML::BeginMap;
    field(yaml, "name", nodeName);
    field(yaml, "criSocket", kCriSocket);
    if (!labels.empty()) {
        yaml << YAML::Key << "kubeletExtraArgs" << YAML::Value;
        if (v1beta3) {
            yaml << YAML::BeginMap;
            field(yaml, "node-labels", nodeLabelsArgument(labels));
            yaml << YAML::EndMap;
        } else {
            yaml << YAML::BeginSeq << YAML::BeginMap;
            field(yaml, "name", "node-labels");
            field(yaml, "value", nodeLabelsArgument(labels));
            yaml << YAML::EndMap << YAML::EndSeq;
        }
    }
    if (!taints.empty()) {
        yaml << YAML::Key << "taints" << YAML::Value << YAML::BeginSeq;
        for (const auto& taint : taints) {
            yaml << YAML::BeginMap;
            field(yaml, "key", taint.key);
            if (!taint.value.empty()) {
                field(yaml, "value", taint.value);
            }
            field(yaml, "effect", taint.effect);
            yaml << YAML::EndMap;
        }
        yaml << YAML::EndSeq;
    }
    yaml << YAML::EndMap;
}

// v1beta4's timeouts block, each of `keys` set to the slow-boot timeout.
void timeouts(YAML::Emitter& yaml, std::initializer_list<const char*> keys) {
    yaml << YAML::Key << "timeouts" << YAML::Value << YAML::BeginMap;
    for (const char* key : keys) {
        field(yaml, key, goDuration(kSlowBootTimeout));
    }
    yaml << YAML::EndMap;
}

std::string initDocument(const ControlPlaneConfig& config, std::string_view api) {
    bool v1beta3 = api == kV1beta3;
    YAML::Emitter yaml;
    yaml << YAML::BeginMap;
    header(yaml, api, "InitConfiguration");
    yaml << YAML::Key << "bootstrapTokens" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    field(yaml, "token", config.bootstrapToken);
    field(yaml, "ttl", goDuration(config.tokenTtl));
    stringList(yaml, "usages", {"signing", "authentication"});
    stringList(yaml, "groups", {"system:bootstrappers:kubeadm:default-node-token"});
    yaml << YAML::EndMap << YAML::EndSeq;
    nodeRegistration(yaml, v1beta3, config.nodeName, config.nodeLabels, config.nodeTaints);
    if (!v1beta3) {
        timeouts(yaml, {"controlPlaneComponentHealthCheck", "kubeletHealthCheck"});
    }
    yaml << YAML::EndMap;
    return yaml.c_str();
}

std::string clusterDocument(const ControlPlaneConfig& config, std::string_view api) {
    bool v1beta3 = api == kV1beta3;
    YAML::Emitter yaml;
    yaml << YAML::BeginMap;
    header(yaml, api, "ClusterConfiguration");
    field(yaml, "clusterName", config.clusterName);
    field(yaml, "kubernetesVersion", config.version.tag());
    if (config.controlPlaneEndpoint) {
        field(yaml, "controlPlaneEndpoint", *config.controlPlaneEndpoint);
    }
    yaml << YAML::Key << "networking" << YAML::Value << YAML::BeginMap;
    field(yaml, "podSubnet", config.podSubnet);
    field(yaml, "serviceSubnet", config.serviceSubnet);
    field(yaml, "dnsDomain", "cluster.local");
    yaml << YAML::EndMap;
    if (v1beta3 || !config.certSans.empty()) {
        yaml << YAML::Key << "apiServer" << YAML::Value << YAML::BeginMap;
        if (!config.certSans.empty()) {
            stringList(yaml, "certSANs", config.certSans);
        }
        if (v1beta3) {
            field(yaml, "timeoutForControlPlane", goDuration(kSlowBootTimeout));
        }
        yaml << YAML::EndMap;
    }
    yaml << YAML::EndMap;
    return yaml.c_str();
}

// Debian 12 guests run cgroup v2, so failCgroupV1 (true from 1.35) needs no setting.
std::string kubeletDocument() {
    YAML::Emitter yaml;
    yaml << YAML::BeginMap;
    header(yaml, "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration");
    field(yaml, "cgroupDriver", "systemd");
    yaml << YAML::EndMap;
    return yaml.c_str();
}

std::string joinDocument(const JoinConfig& config, std::string_view api) {
    bool v1beta3 = api == kV1beta3;
    YAML::Emitter yaml;
    yaml << YAML::BeginMap;
    header(yaml, api, "JoinConfiguration");
    nodeRegistration(yaml, v1beta3, config.nodeName, config.nodeLabels, config.nodeTaints);
    yaml << YAML::Key << "discovery" << YAML::Value << YAML::BeginMap;
    yaml << YAML::Key << "bootstrapToken" << YAML::Value << YAML::BeginMap;
    field(yaml, "apiServerEndpoint", config.apiServerEndpoint);
    field(yaml, "token", config.token);
    stringList(yaml, "caCertHashes", config.caCertHashes);
    yaml << YAML::EndMap;
    field(yaml, "tlsBootstrapToken", config.token);
    if (v1beta3) {
        field(yaml, "timeout", goDuration(kSlowBootTimeout));
    }
    yaml << YAML::EndMap;
    if (!v1beta3) {
        timeouts(yaml, {"discovery", "tlsBootstrap", "kubeletHealthCheck"});
    }
    yaml << YAML::EndMap;
    return yaml.c_str();
}

}  // namespace

std::string goDuration(std::chrono::seconds duration) {
    auto total = duration.count();
    auto hours = total / 3600;
    auto minutes = total % 3600 / 60;
    auto seconds = total % 60;
    if (hours > 0) {
        return std::to_string(hours) + "h" + std::to_string(minutes) + "m" + std::to_string(seconds) + "s";
    }
    if (minutes > 0) {
        return std::to_string(minutes) + "m" + std::to_string(seconds) + "s";
    }
    return std::to_string(seconds) + "s";
}

Result<std::string> initConfiguration(const ControlPlaneConfig& config) {
    if (auto ok = validate(config); !ok) {
        return ok.error();
    }
    auto api = kubeadmApiVersion(config.version);
    return initDocument(config, *api) + "\n---\n" + clusterDocument(config, *api) + "\n---\n" +
           kubeletDocument() + "\n";
}

Result<std::string> joinConfiguration(const JoinConfig& config) {
    if (auto ok = validate(config); !ok) {
        return ok.error();
    }
    return joinDocument(config, *kubeadmApiVersion(config.version)) + "\n";
}

}  // namespace gpuhost::kubernetes

// JSON ⇄ Kubernetes clusters, node pools and nodes. Bodies are parsed strictly, as Slurm's
// are: unknown members, wrong types and bad values are a 400 naming the field. What only the
// region knows (supported versions, types, capacity, blocks against the VM network) the
// service checks.
#include "kubernetes_mapping.hpp"

#include "kubeconfig.hpp"
#include "model/cidr.hpp"
#include "model/instance_state.hpp"
#include "model/validation.hpp"
#include "version.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;
using namespace fields;

namespace {

Result<std::string> parseVersion(const json& body) {
    std::string text;
    if (auto read = readString(body, "version", "version", text, true); !read) {
        return read.error();
    }
    auto version = kubernetes::parseKubernetesVersion(text, "version");
    if (!version) {
        return version.error();
    }
    return version->text();
}

// An optional CIDR block member with its prefix within [minPrefix, maxPrefix].
Result<std::optional<model::Ipv4Cidr>> parseBlock(const json& body, std::string_view key, unsigned minPrefix,
                                                  unsigned maxPrefix, std::string_view why) {
    std::string field(key);
    std::string text;
    if (auto read = readString(body, key, field, text, false); !read) {
        return read.error();
    }
    if (text.empty()) {
        return std::optional<model::Ipv4Cidr>();
    }
    auto block = model::parseIpv4Cidr(text, field);
    if (!block) {
        return block.error();
    }
    if (block->prefix < minPrefix || block->prefix > maxPrefix) {
        return Error::invalid(field, "must have a prefix length from /" + std::to_string(minPrefix) +
                                         " to /" + std::to_string(maxPrefix) + " (" + std::string(why) + ")");
    }
    return std::optional(*block);
}

Result<std::optional<model::KubernetesNetwork>> parseNetwork(const json& body) {
    auto pods = parseBlock(body, "podCIDRBlock", kMinPodPrefix, kMaxPodPrefix, "each node takes a /24 of it");
    if (!pods) {
        return pods.error();
    }
    auto services = parseBlock(body, "serviceCIDRBlock", kMinServicePrefix, kMaxServicePrefix,
                               "kube-apiserver allows at most a /12");
    if (!services) {
        return services.error();
    }
    if (!*pods && !*services) {
        return std::optional<model::KubernetesNetwork>();
    }
    if (*pods && *services && (*pods)->overlaps(**services)) {
        return Error::invalid("serviceCIDRBlock", "must not overlap podCIDRBlock " + (*pods)->text());
    }
    return std::optional(model::KubernetesNetwork{*pods ? (*pods)->text() : std::string(),
                                                  *services ? (*services)->text() : std::string()});
}

// `defaultNodePool`: absent, or `create: false`, is no pool; otherwise one pool (`create`
// defaults to true). With `create: false` the other members are not required and not read.
Result<std::vector<model::ClusterPool>> parseDefaultPool(const json& body) {
    const std::string field = "defaultNodePool";
    const json* pool = find(body, field);
    if (pool == nullptr) {
        return std::vector<model::ClusterPool>();
    }
    if (!pool->is_object()) {
        return Error::invalid(field, "must be an object");
    }
    if (auto known = rejectUnknown(*pool, {"create", "name", "type", "count"}, field); !known) {
        return known.error();
    }
    bool create = true;
    if (const json* flag = find(*pool, "create")) {
        if (!flag->is_boolean()) {
            return Error::invalid(field + ".create", "must be true or false");
        }
        create = flag->get<bool>();
    }
    if (!create) {
        return std::vector<model::ClusterPool>();
    }
    json members = *pool;
    members.erase("create");
    auto parsed = parsePool(members, field, PoolMembers::Plain);
    if (!parsed) {
        return parsed.error();
    }
    return std::vector{std::move(*parsed)};
}

// The form the API shows: "1.32.5" for whatever a node or the kind reports ("v1.32.5").
json versionJson(const std::string& version) {
    auto parsed = kubernetes::parseKubernetesVersion(version, "version");
    return parsed ? json(parsed->text()) : nonEmpty(version);
}

// Until the API server lists the node, what its VM's state says of it.
std::string stateFromVm(const std::string& instanceState) {
    using model::InstanceState;
    auto state = model::instanceStateFromString(instanceState);
    if (state == InstanceState::Creating || state == InstanceState::Starting) {
        return "Provisioning";
    }
    return state == InstanceState::Running ? "NotReady" : "Unknown";
}

json conditionsJson(const std::vector<model::NodeCondition>& conditions) {
    auto list = json::array();
    for (const auto& c : conditions) {
        list.push_back({{"type", c.type},
                        {"status", c.status},
                        {"lastHeartbeatTime", nonEmpty(c.lastHeartbeatTime)},
                        {"lastTransitionTime", nonEmpty(c.lastTransitionTime)},
                        {"reason", c.reason},
                        {"message", c.message}});
    }
    return list;
}

json taintsJson(const std::vector<model::NodeTaint>& taints) {
    auto list = json::array();
    for (const auto& t : taints) {
        list.push_back({{"key", t.key}, {"value", t.value}, {"effect", t.effect}});
    }
    return list;
}

json acceleratorJson(const std::optional<model::NodeAccelerator>& accelerator) {
    if (!accelerator) {
        return nullptr;
    }
    return {{"type", accelerator->type},
            {"product", nonEmpty(accelerator->product)},
            {"driverVersion", nonEmpty(accelerator->driverVersion)}};
}

}  // namespace

Result<agent::CreateCluster> parseCreateKubernetesCluster(const json& body) {
    if (auto known = rejectUnknown(
            body,
            {"name", "version", "podCIDRBlock", "serviceCIDRBlock", "defaultNodePool", "controlPlaneType"},
            "");
        !known) {
        return known.error();
    }
    agent::CreateCluster request;
    for (auto read :
         {readString(body, "name", "name", request.name, true),
          readString(body, "controlPlaneType", "controlPlaneType", request.controllerType, false)}) {
        if (!read) {
            return read.error();
        }
    }
    if (auto valid = model::validateResourceName(request.name, "name"); !valid) {
        return valid.error();
    }
    auto version = parseVersion(body);
    if (!version) {
        return version.error();
    }
    request.version = std::move(*version);
    auto network = parseNetwork(body);
    if (!network) {
        return network.error();
    }
    request.network = std::move(*network);
    auto pools = parseDefaultPool(body);
    if (!pools) {
        return pools.error();
    }
    request.pools = std::move(*pools);
    return request;
}

Error kubernetesCreateError(Error error) {
    // The spec's name for a field (and what starts a field under it) → the body's.
    static const std::pair<std::string_view, std::string_view> kRenames[] = {
        {"nodePools[0]", "defaultNodePool"},
        {"nodePools", "defaultNodePool"},
        {"controllerType", "controlPlaneType"}};
    for (auto [from, to] : kRenames) {
        std::string_view field = error.field;
        if (!field.starts_with(from) || (field.size() > from.size() && field[from.size()] != '.')) {
            continue;
        }
        std::string renamed = std::string(to) + std::string(field.substr(from.size()));
        if (error.message.starts_with(error.field + ":")) {
            error.message.replace(0, error.field.size(), renamed);
        }
        error.field = std::move(renamed);
        break;
    }
    return error;
}

Result<std::string> parseKubernetesClusterPatch(const json& body) {
    if (auto known = rejectUnknown(body, {"version"}, ""); !known) {
        return known.error();
    }
    return parseVersion(body);
}

Result<model::ClusterPool> parseKubernetesPool(const json& body) {
    return parsePool(body, "", PoolMembers::Plain);
}

json kubernetesNodeJson(const model::ClusterNode& node) {
    const auto& facts = node.kubernetes;
    return json{
        {"name", node.name},
        {"instanceID", instanceIdJson(node.instanceId)},
        {"instanceState", node.instanceState},
        {"state", facts ? facts->state : stateFromVm(node.instanceState)},
        {"unschedulable", facts && facts->unschedulable},
        {"kubeletVersion", facts ? versionJson(facts->kubeletVersion) : json(nullptr)},
        {"createdAt", facts ? nonEmpty(facts->createdAt) : json(nullptr)},
        {"publicIP", optionalText(node.publicIp)},
        {"privateIP", optionalText(node.privateIp)},
        {"conditions", conditionsJson(facts ? facts->conditions : std::vector<model::NodeCondition>{})},
        {"accelerator", acceleratorJson(facts ? facts->accelerator : std::nullopt)},
        {"labels", facts ? json(facts->labels) : json::object()},
        {"taints", taintsJson(facts ? facts->taints : std::vector<model::NodeTaint>{})},
    };
}

json kubernetesPoolJson(const model::ClusterPoolView& pool, const model::Uuid& clusterId) {
    auto nodes = json::array();
    for (const auto& node : pool.nodes) {
        nodes.push_back(kubernetesNodeJson(node));
    }
    return json{{"name", pool.pool.name},
                {"clusterId", clusterId.str()},
                {"type", pool.pool.type},
                {"count", pool.pool.count},
                {"nodes", std::move(nodes)}};
}

json kubernetesClusterJson(const model::ClusterView& view) {
    auto pools = json::array();
    for (const auto& pool : view.pools) {
        pools.push_back(kubernetesPoolJson(pool, view.cluster.id));
    }
    const auto& network = view.cluster.network;
    const auto& ca = view.certificateAuthority;
    return json{
        {"id", view.cluster.id.str()},
        {"name", view.cluster.name},
        {"version", versionJson(view.version)},
        {"podCIDRBlock", network ? nonEmpty(network->podCidr) : json(nullptr)},
        {"serviceCIDRBlock", network ? nonEmpty(network->serviceCidr) : json(nullptr)},
        {"status", clusterStatusJson(view.status)},
        {"nodePools", std::move(pools)},
        {"certificateAuthorityData", ca ? json(kubernetes::base64(*ca)) : json(nullptr)},
        {"endpoint", optionalText(view.endpoint)},
        {"createdAt", model::formatTimestamp(view.cluster.createdAt)},
    };
}

}  // namespace gpuhost::api

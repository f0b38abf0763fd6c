// JSON ⇄ Slurm clusters, node pools, nodes and users. Bodies are parsed strictly: unknown
// fields, wrong types and bad values are a 400 naming the field (`nodePools[1].count`).
#include "slurm_mapping.hpp"

#include <algorithm>

#include "json_mapping.hpp"
#include "model/posix_user.hpp"
#include "model/ssh_key.hpp"
#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;
using namespace fields;

namespace {

// Slurm release numbers: "23.11" or "23.11.4".
Result<void> validateVersion(std::string_view version) {
    std::size_t parts = 0, digits = 0;
    for (char c : version) {
        if (c == '.') {
            if (digits == 0) {
                break;
            }
            ++parts;
            digits = 0;
        } else if (c >= '0' && c <= '9' && digits < 4) {
            ++digits;
        } else {
            digits = 0;
            break;
        }
    }
    if (digits == 0 || parts < 1 || parts > 2) {
        return Error::invalid("version", "must be a Slurm release such as 23.11 or 23.11.4");
    }
    return {};
}

Result<void> parseLoginNodes(const json& body, agent::CreateCluster& request) {
    const json* login = find(body, "loginNodes");
    if (login == nullptr) {
        return {};
    }
    if (!login->is_object()) {
        return Error::invalid("loginNodes", "must be an object");
    }
    if (auto known = rejectUnknown(*login, {"count", "type"}, "loginNodes"); !known) {
        return known;
    }
    auto count = readCount(find(*login, "count"), "loginNodes.count", kMaxLoginNodes);
    if (!count) {
        return count.error();
    }
    request.loginCount = *count;
    return readString(*login, "type", "loginNodes.type", request.loginType, false);
}

Result<std::vector<std::string>> parseKeys(const json& body) {
    auto keys = readStrings(body, "sshKeys", "sshKeys", model::kMaxSshKeys);
    if (!keys) {
        return keys.error();
    }
    auto parsed = model::parseSshPublicKeys(*keys, "sshKeys");
    if (!parsed) {
        return parsed.error();
    }
    std::vector<std::string> lines;
    for (const auto& key : *parsed) {
        lines.push_back(key.line());
    }
    return lines;
}

json nodeJson(const model::ClusterNode& node) {
    return json{
        {"name", node.name},
        {"instanceID", instanceIdJson(node.instanceId)},
        {"instanceState", node.instanceState},
        {"states", node.states},
        {"slurmdVersion", nonEmpty(node.slurmdVersion)},
        {"publicIP", optionalText(node.publicIp)},
        {"privateIP", optionalText(node.privateIp)},
        {"partitions", node.partitions},
        {"reservation", optionalText(node.reservation)},
        {"reason", optionalText(node.reason)},
    };
}

json loginNodeJson(const model::ClusterNode& node) {
    return json{
        {"name", node.name},
        {"publicIP", optionalText(node.publicIp)},
        {"privateIP", optionalText(node.privateIp)},
        {"instanceID", instanceIdJson(node.instanceId)},
    };
}

}  // namespace

Result<agent::CreateCluster> parseCreateSlurmCluster(const json& body) {
    if (auto known =
            rejectUnknown(body, {"name", "version", "controllerType", "loginNodes", "nodePools"}, "");
        !known) {
        return known.error();
    }
    agent::CreateCluster request;
    for (auto read : {readString(body, "name", "name", request.name, true),
                      readString(body, "version", "version", request.version, false),
                      readString(body, "controllerType", "controllerType", request.controllerType, false)}) {
        if (!read) {
            return read.error();
        }
    }
    if (auto valid = model::validateResourceName(request.name, "name"); !valid) {
        return valid.error();
    }
    if (!request.version.empty()) {
        if (auto valid = validateVersion(request.version); !valid) {
            return valid.error();
        }
    }
    if (auto login = parseLoginNodes(body, request); !login) {
        return login.error();
    }
    const json* pools = find(body, "nodePools");
    if (pools == nullptr) {
        return Error::invalid("nodePools", "is required");
    }
    if (!pools->is_array()) {
        return Error::invalid("nodePools", "must be a list of node pools");
    }
    if (pools->empty() || pools->size() > model::kMaxClusterPools) {
        return Error::invalid("nodePools",
                              "must list 1 to " + std::to_string(model::kMaxClusterPools) + " pools");
    }
    for (std::size_t i = 0; i < pools->size(); ++i) {
        auto pool = parsePool((*pools)[i], indexed("nodePools", i), PoolMembers::WithPartitions);
        if (!pool) {
            return pool.error();
        }
        if (request.pools.end() !=
            std::find_if(request.pools.begin(), request.pools.end(),
                         [&](const auto& other) { return other.name == pool->name; })) {
            return Error::invalid(indexed("nodePools", i) + ".name", "is the name of an earlier pool");
        }
        request.pools.push_back(std::move(*pool));
    }
    return request;
}

Result<model::ClusterPool> parseSlurmPool(const json& body) {
    return parsePool(body, "", PoolMembers::WithPartitions);
}

Result<model::ClusterUser> parseSlurmUser(const json& body) {
    if (auto known = rejectUnknown(body, {"username", "sshKeys", "sudo"}, ""); !known) {
        return known.error();
    }
    model::ClusterUser user;
    if (auto read = readString(body, "username", "username", user.username, true); !read) {
        return read.error();
    }
    if (auto valid = model::validatePosixUsername(user.username, "username"); !valid) {
        return valid.error();
    }
    auto keys = parseKeys(body);
    if (!keys) {
        return keys.error();
    }
    user.sshKeys = std::move(*keys);
    if (const json* sudo = find(body, "sudo")) {
        if (!sudo->is_boolean()) {
            return Error::invalid("sudo", "must be true or false");
        }
        user.sudo = sudo->get<bool>();
    }
    return user;
}

Result<model::ClusterUserUpdate> parseSlurmUserUpdate(const json& body) {
    if (auto known = rejectUnknown(body, {"sshKeys", "sudo"}, ""); !known) {
        return known.error();
    }
    model::ClusterUserUpdate update;
    if (find(body, "sshKeys") != nullptr) {
        auto keys = parseKeys(body);
        if (!keys) {
            return keys.error();
        }
        update.sshKeys = std::move(*keys);
    }
    if (const json* sudo = find(body, "sudo")) {
        if (!sudo->is_boolean()) {
            return Error::invalid("sudo", "must be true or false");
        }
        update.sudo = sudo->get<bool>();
    }
    return update;
}

json slurmPoolJson(const model::ClusterPoolView& pool, const model::Uuid& clusterId) {
    auto nodes = json::array();
    for (const auto& node : pool.nodes) {
        nodes.push_back(nodeJson(node));
    }
    return json{
        {"name", pool.pool.name},   {"clusterId", clusterId.str()},       {"type", pool.pool.type},
        {"count", pool.pool.count}, {"partitions", pool.pool.partitions}, {"nodes", std::move(nodes)},
    };
}

json slurmClusterJson(const model::ClusterView& view) {
    auto login = json::array();
    for (const auto& node : view.loginNodes) {
        login.push_back(loginNodeJson(node));
    }
    auto pools = json::array();
    for (const auto& pool : view.pools) {
        pools.push_back(slurmPoolJson(pool, view.cluster.id));
    }
    return json{
        {"id", view.cluster.id.str()},
        {"name", view.cluster.name},
        {"version", nonEmpty(view.version)},
        {"status", clusterStatusJson(view.status)},
        {"controller", view.controller ? nodeJson(*view.controller) : json(nullptr)},
        {"loginNodes", std::move(login)},
        {"nodePools", std::move(pools)},
        {"createdAt", model::formatTimestamp(view.cluster.createdAt)},
    };
}

json slurmUserJson(const model::ClusterUserView& user) {
    return json{
        {"username", user.user.username}, {"sshKeys", user.user.sshKeys}, {"sudo", user.user.sudo},
        {"uid", user.user.uid},           {"applied", user.applied},
    };
}

}  // namespace gpuhost::api

// JSON ⇄ Slurm clusters, node pools, nodes and users. Bodies are parsed strictly: unknown
// fields, wrong types and bad values are a 400 naming the field (`nodePools[1].count`).
#include "slurm_mapping.hpp"

#include <algorithm>
#include <set>
#include <string_view>

#include "json_mapping.hpp"
#include "model/posix_user.hpp"
#include "model/ssh_key.hpp"
#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;

namespace {

std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

std::string indexed(std::string_view field, std::size_t i) {
    return std::string(field) + "[" + std::to_string(i) + "]";
}

// The member `key` when present and not null (null means "not given", as elsewhere).
const json* find(const json& body, std::string_view key) {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

Result<void> rejectUnknown(const json& body, const std::set<std::string_view>& known,
                           const std::string& prefix) {
    for (const auto& [key, value] : body.items()) {
        if (!known.contains(key)) {
            return Error::invalid(join(prefix, key), "unknown field");
        }
    }
    return {};
}

Result<void> readString(const json& body, std::string_view key, const std::string& field, std::string& out,
                        bool required) {
    const json* value = find(body, key);
    if (value == nullptr) {
        return required ? Result<void>(Error::invalid(field, "is required")) : Result<void>{};
    }
    if (!value->is_string()) {
        return Error::invalid(field, "must be a string");
    }
    out = value->get<std::string>();
    if (out.empty()) {
        return Error::invalid(field, "must not be empty");
    }
    return {};
}

// A count: a JSON integer in [0, max] (2.0, -1, 1e9 and "3" are refused).
Result<unsigned> readCount(const json* value, const std::string& field, unsigned max) {
    if (value == nullptr) {
        return Error::invalid(field, "is required");
    }
    if (!value->is_number_integer()) {
        return Error::invalid(field, "must be a whole number");
    }
    if (!value->is_number_unsigned()) {
        return Error::invalid(field, "must not be negative");
    }
    if (value->get<std::uint64_t>() > max) {
        return Error::invalid(field, "must be at most " + std::to_string(max));
    }
    return static_cast<unsigned>(value->get<std::uint64_t>());
}

Result<std::vector<std::string>> readStrings(const json& body, std::string_view key,
                                             const std::string& field) {
    std::vector<std::string> out;
    const json* value = find(body, key);
    if (value == nullptr) {
        return out;
    }
    if (!value->is_array()) {
        return Error::invalid(field, "must be a list of strings");
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        if (!(*value)[i].is_string()) {
            return Error::invalid(indexed(field, i), "must be a string");
        }
        out.push_back((*value)[i].get<std::string>());
    }
    return out;
}

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

// `prefix` is where the pool sits in the body: "nodePools[2]", or "" for a body that is one pool.
Result<model::ClusterPool> parsePool(const json& body, const std::string& prefix) {
    if (!body.is_object()) {
        return Error::invalid(prefix, "must be an object");
    }
    if (auto known = rejectUnknown(body, {"name", "type", "count", "partitions"}, prefix); !known) {
        return known.error();
    }
    model::ClusterPool pool;
    for (auto read : {readString(body, "name", join(prefix, "name"), pool.name, true),
                      readString(body, "type", join(prefix, "type"), pool.type, true)}) {
        if (!read) {
            return read.error();
        }
    }
    auto count = readCount(find(body, "count"), join(prefix, "count"), kMaxParsedPoolCount);
    if (!count) {
        return count.error();
    }
    pool.count = *count;
    auto partitions = readStrings(body, "partitions", join(prefix, "partitions"));
    if (!partitions) {
        return partitions.error();
    }
    pool.partitions = std::move(*partitions);
    // validatePool names fields under a prefix; a body that is one pool has none.
    std::string base = prefix.empty() ? "pool" : prefix;
    if (auto valid = model::validatePool(pool, base); !valid) {
        Error error = valid.error();
        if (prefix.empty() && error.field.starts_with(base + ".")) {
            error.field.erase(0, base.size() + 1);
            if (error.message.starts_with(base + ".")) {
                error.message.erase(0, base.size() + 1);
            }
        }
        return error;
    }
    return pool;
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
    auto keys = readStrings(body, "sshKeys", "sshKeys");
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

json optionalText(const std::optional<std::string>& text) {
    return text ? json(*text) : json(nullptr);
}

json nonEmpty(const std::string& text) {
    return text.empty() ? json(nullptr) : json(text);
}

json instanceId(const model::Uuid& id) {
    return id.isNil() ? json(nullptr) : json(id.str());
}

json nodeJson(const model::ClusterNode& node) {
    return json{
        {"name", node.name},
        {"instanceID", instanceId(node.instanceId)},
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
        {"instanceID", instanceId(node.instanceId)},
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
        auto pool = parsePool((*pools)[i], indexed("nodePools", i));
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
    return parsePool(body, "");
}

Result<unsigned> parsePoolScale(const json& body) {
    if (auto known = rejectUnknown(body, {"count"}, ""); !known) {
        return known.error();
    }
    return readCount(find(body, "count"), "count", kMaxParsedPoolCount);
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
        {"status", {{"type", model::nameOf(view.status.phase)}, {"details", view.status.details}}},
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

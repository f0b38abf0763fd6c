// JSON ⇄ instances.
#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include "json_mapping.hpp"
#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;

Result<std::string> decodeBase64Field(std::string_view text, const std::string& field) {
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    // OpenSSL's decoder skips whitespace and tolerates odd padding; we do not.
    auto padding = text.size() - std::min(text.size(), text.find_last_not_of('=') + 1);
    auto body = text.substr(0, text.size() - padding);
    if (text.size() % 4 != 0 || padding > 2 || body.find_first_not_of(alphabet) != std::string_view::npos) {
        return Error::invalid(field, "must be base64 (RFC 4648, padded)");
    }
    std::string out(text.size() / 4 * 3, '\0');
    int written =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (written < 0) {
        return Error::invalid(field, "must be base64 (RFC 4648, padded)");
    }
    out.resize(static_cast<std::size_t>(written) - padding);  // EVP_DecodeBlock counts padding as zero bytes
    return out;
}

namespace {

Result<void> readBool(const json& body, const char* field, bool& out) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return {};
    }
    if (!it->is_boolean()) {
        return Error::invalid(field, "must be true or false");
    }
    out = it->get<bool>();
    return {};
}

Result<void> readString(const json& body, const char* field, std::string& out, bool required) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return required ? Result<void>(Error::invalid(field, "is required")) : Result<void>{};
    }
    if (!it->is_string()) {
        return Error::invalid(field, "must be a string");
    }
    out = it->get<std::string>();
    return {};
}

Result<std::vector<model::Uuid>> readUuids(const json& body, const char* field) {
    std::vector<model::Uuid> ids;
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return ids;
    }
    if (!it->is_array()) {
        return Error::invalid(field, "must be a list of ids");
    }
    // Capped before any item is read, and duplicates found through a set: a 1 MiB list of
    // 26,870 ids once cost 2.4 s of an I/O thread with a linear search per item.
    if (it->size() > kMaxInstanceFilesystems) {
        return Error::invalid(field, "at most " + std::to_string(kMaxInstanceFilesystems) + " ids");
    }
    std::set<model::Uuid> seen;
    for (const auto& item : *it) {
        auto id = item.is_string() ? model::parseUuidField(item.get<std::string>(), field)
                                   : Result<model::Uuid>(Error::invalid(field, "must be a list of ids"));
        if (!id) {
            return id.error();
        }
        if (!seen.insert(*id).second) {
            return Error::invalid(field, "lists " + id->str() + " twice");
        }
        ids.push_back(*id);
    }
    return ids;
}

}  // namespace

Result<model::CreateInstance> parseCreateInstance(const json& body) {
    // Shown in GET, so a client may send it back: say why it cannot be set, rather than
    // "unknown field". Only a cluster makes owned instances. null means "none", as for
    // the other optional fields, and that is what every client-made instance has.
    if (auto owner = body.find("owner"); owner != body.end() && !owner->is_null()) {
        return Error::invalid("owner", "is read-only: only a cluster creates the instances it owns");
    }
    if (auto known = rejectUnknownFields(body, {"name", "type", "image", "userData", "tags", "ephemeral",
                                                "preemptible", "filesystems", "owner"});
        !known) {
        return known.error();
    }
    model::CreateInstance request;
    std::string userData;
    for (auto read :
         {readString(body, "name", request.name, true), readString(body, "type", request.type, true),
          readString(body, "image", request.image, false), readString(body, "userData", userData, false),
          readBool(body, "ephemeral", request.ephemeral),
          readBool(body, "preemptible", request.preemptible)}) {
        if (!read) {
            return read.error();
        }
    }
    if (auto valid = model::validateResourceName(request.name); !valid) {
        return valid.error();
    }
    if (auto image = model::parseImageReference(request.image); !image) {
        return image.error();
    }
    auto decoded = decodeBase64Field(userData, "userData");
    if (!decoded) {
        return decoded.error();
    }
    request.userData = std::move(*decoded);
    auto filesystems = readUuids(body, "filesystems");
    if (!filesystems) {
        return filesystems.error();
    }
    request.filesystems = std::move(*filesystems);
    auto tags = parseTags(body);
    if (!tags) {
        return tags.error();
    }
    request.tags = std::move(*tags);
    return request;
}

namespace {

// A JSON string with nlohmann's escaping (invalid UTF-8 replaced, as dump() does).
// Plain printable ASCII, what names and states nearly always are, needs none.
void appendString(std::string& out, std::string_view text) {
    bool plain = std::all_of(text.begin(), text.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\';
    });
    if (plain) {
        out += '"';
        out += text;
        out += '"';
        return;
    }
    out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

void appendField(std::string& out, std::string_view key, std::string_view text) {
    out += ",\"";
    out += key;
    out += "\":";
    appendString(out, text);
}

// Extra: the cluster that owns a member (absent for user instances), read-only.
void appendOwner(std::string& out, const model::InstanceOwner& owner) {
    out += ",\"owner\":{\"clusterId\":\"" + owner.clusterId.str() + "\"";
    appendField(out, "clusterKind", owner.clusterKind);
    appendField(out, "clusterName", owner.clusterName);
    out += ",\"index\":" + std::to_string(owner.index);
    if (owner.nodePool.empty()) {
        out += ",\"nodePool\":null";
    } else {
        appendField(out, "nodePool", owner.nodePool);
    }
    appendField(out, "role", owner.role);
    out += "}";
}

// Written straight to text rather than through a json DOM: a list of 10,000 instances
// cost ~110 ms of allocations as a DOM, on an I/O thread. Keys in sorted order, as a
// DOM would print them.
void appendInstance(std::string& out, const model::Instance& instance) {
    out += "{\"createdAt\":\"" + model::formatTimestamp(instance.createdAt) + "\"";
    out += instance.ephemeral ? ",\"ephemeral\":true" : ",\"ephemeral\":false";
    out += ",\"filesystems\":[";
    for (std::size_t i = 0; i < instance.filesystems.size(); ++i) {
        out += (i == 0 ? "\"" : ",\"") + instance.filesystems[i].str() + "\"";
    }
    out += "],\"gpus\":[";  // extra: which GPUs it holds (operators and schedulers ask)
    for (std::size_t i = 0; i < instance.gpus.size(); ++i) {
        out += (i == 0 ? "\"" : ",\"") + instance.gpus[i].str() + "\"";
    }
    out += "]";
    // Extra: where it runs.
    if (instance.host.empty()) {
        out += ",\"host\":null";
    } else {
        appendField(out, "host", instance.host);
    }
    out += ",\"id\":\"" + instance.id.str() + "\"";
    appendField(out, "image", instance.image);
    if (instance.ip) {
        appendField(out, "ip", *instance.ip);
    } else {
        out += ",\"ip\":null";
    }
    appendField(out, "name", instance.name);
    if (instance.owner) {
        appendOwner(out, *instance.owner);
    }
    out += instance.preemptible ? ",\"preemptible\":true" : ",\"preemptible\":false";
    if (!instance.reason.empty()) {  // extra: why it is in error or stopped
        appendField(out, "reason", instance.reason);
    }
    appendField(out, "state", model::nameOf(instance.state));
    out += ",\"tags\":{";
    bool first = true;
    for (const auto& [key, value] : instance.tags) {
        out += first ? "" : ",";
        first = false;
        appendString(out, key);
        out += ":";
        appendString(out, value);
    }
    out += "}";
    appendField(out, "type", instance.type);
    out += "}";
}

}  // namespace

std::string renderInstance(const model::Instance& instance) {
    std::string out;
    appendInstance(out, instance);
    return out;
}

std::string renderInstances(const std::vector<model::Instance>& instances) {
    std::string out = "[";
    out.reserve(instances.size() * 320);
    for (std::size_t i = 0; i < instances.size(); ++i) {
        if (i != 0) {
            out += ",";
        }
        appendInstance(out, instances[i]);
    }
    out += "]";
    return out;
}

}  // namespace gpuhost::api

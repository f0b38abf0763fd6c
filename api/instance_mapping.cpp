// JSON ⇄ instances.
#include <openssl/evp.h>

#include <algorithm>

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
    for (const auto& item : *it) {
        auto id = item.is_string() ? model::parseUuidField(item.get<std::string>(), field)
                                   : Result<model::Uuid>(Error::invalid(field, "must be a list of ids"));
        if (!id) {
            return id.error();
        }
        if (std::find(ids.begin(), ids.end(), *id) != ids.end()) {
            return Error::invalid(field, "lists " + id->str() + " twice");
        }
        ids.push_back(*id);
    }
    return ids;
}

}  // namespace

Result<model::CreateInstance> parseCreateInstance(const json& body) {
    if (auto known = rejectUnknownFields(
            body, {"name", "type", "image", "userData", "tags", "ephemeral", "preemptible", "filesystems"});
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

json toJson(const model::Instance& instance) {
    auto filesystems = json::array();
    for (const auto& id : instance.filesystems) {
        filesystems.push_back(id.str());
    }
    json out{
        {"id", instance.id.str()},
        {"name", instance.name},
        {"type", instance.type},
        {"image", instance.image},
        {"state", model::nameOf(instance.state)},
        {"ip", instance.ip ? json(*instance.ip) : json(nullptr)},
        {"ephemeral", instance.ephemeral},
        {"preemptible", instance.preemptible},
        {"filesystems", filesystems},
        {"tags", instance.tags},
        {"createdAt", model::formatTimestamp(instance.createdAt)},
    };
    // Extra: where it runs and which GPUs it holds (operators and schedulers ask).
    out["host"] = instance.host.empty() ? json(nullptr) : json(instance.host);
    auto gpus = json::array();
    for (const auto& gpu : instance.gpus) {
        gpus.push_back(gpu.str());
    }
    out["gpus"] = gpus;
    // Extra, so users see why an instance is in error or stopped without asking.
    if (!instance.reason.empty()) {
        out["reason"] = instance.reason;
    }
    return out;
}

}  // namespace gpuhost::api

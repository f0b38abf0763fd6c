// JSON ⇄ filesystem commands and views.
#include "json_mapping.hpp"
#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;

Result<model::CreateFilesystem> parseCreateFilesystem(const json& body, std::uint64_t maxBytes) {
    if (auto known = rejectUnknownFields(body, {"name", "size"}); !known) {
        return known.error();
    }
    model::CreateFilesystem request;
    auto name = body.find("name");
    if (name == body.end() || name->is_null()) {
        return Error::invalid("name", "is required");
    }
    if (!name->is_string()) {
        return Error::invalid("name", "must be a string");
    }
    request.name = name->get<std::string>();
    if (auto valid = model::validateResourceName(request.name, "name"); !valid) {
        return valid.error();
    }
    auto size = body.find("size");
    if (size == body.end() || size->is_null()) {
        return Error::invalid("size", "is required");
    }
    if (!size->is_string()) {
        return Error::invalid("size", "must be a string such as 512Gi");
    }
    auto bytes = model::parseFilesystemSize(size->get<std::string>(), maxBytes);
    if (!bytes) {
        return bytes.error();
    }
    request.sizeBytes = *bytes;
    return request;
}

json toJson(const model::Filesystem& filesystem) {
    json out{
        {"id", filesystem.id.str()},
        {"name", filesystem.name},
        {"size", model::formatBinarySize(filesystem.sizeBytes)},
        {"state", model::nameOf(filesystem.state)},
        {"createdAt", model::formatTimestamp(filesystem.createdAt)},
        {"host", filesystem.host},
    };
    if (!filesystem.reason.empty()) {
        out["reason"] = filesystem.reason;
    }
    return out;
}

}  // namespace gpuhost::api

// Strict body readers and node pools for the cluster routes of every kind: unknown members,
// wrong types and bad values are a 400 naming the field (`nodePools[1].count`).
#include "cluster_mapping.hpp"

#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;

namespace fields {

std::string join(const std::string& prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

std::string indexed(std::string_view field, std::size_t i) {
    return std::string(field) + "[" + std::to_string(i) + "]";
}

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

Result<std::vector<std::string>> readStrings(const json& body, std::string_view key, const std::string& field,
                                             std::size_t maxItems) {
    std::vector<std::string> out;
    const json* value = find(body, key);
    if (value == nullptr) {
        return out;
    }
    if (!value->is_array()) {
        return Error::invalid(field, "must be a list of strings");
    }
    if (value->size() > maxItems) {
        return Error::invalid(field, "at most " + std::to_string(maxItems) + " items are allowed");
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        if (!(*value)[i].is_string()) {
            return Error::invalid(indexed(field, i), "must be a string");
        }
        out.push_back((*value)[i].get<std::string>());
    }
    return out;
}

}  // namespace fields

using namespace fields;

Result<model::ClusterPool> parsePool(const json& body, const std::string& prefix, PoolMembers members) {
    if (!body.is_object()) {
        return Error::invalid(prefix, "must be an object");
    }
    std::set<std::string_view> known{"name", "type", "count"};
    if (members == PoolMembers::WithPartitions) {
        known.insert("partitions");
    }
    if (auto valid = rejectUnknown(body, known, prefix); !valid) {
        return valid.error();
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
    auto partitions = readStrings(body, "partitions", join(prefix, "partitions"), model::kMaxPoolPartitions);
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

Result<unsigned> parsePoolScale(const json& body) {
    if (auto known = rejectUnknown(body, {"count"}, ""); !known) {
        return known.error();
    }
    return readCount(find(body, "count"), "count", kMaxParsedPoolCount);
}

json optionalText(const std::optional<std::string>& text) {
    return text ? json(*text) : json(nullptr);
}

json nonEmpty(const std::string& text) {
    return text.empty() ? json(nullptr) : json(text);
}

json instanceIdJson(const model::Uuid& id) {
    return id.isNil() ? json(nullptr) : json(id.str());
}

json clusterStatusJson(const model::ClusterStatus& status) {
    return {{"type", model::nameOf(status.phase)}, {"details", status.details}};
}

}  // namespace gpuhost::api

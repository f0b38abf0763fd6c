#include "json_mapping.hpp"

#include <memory>
#include <set>
#include <vector>

#include "model/validation.hpp"

namespace gpuhost::api {

using model::Error;
using model::Result;
using nlohmann::json;

namespace {

// Depth of the deepest container, counting only brackets outside strings.
std::size_t nestingDepth(std::string_view text) {
    std::size_t depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

struct DuplicateKey {
    std::string key;
};

// {"name": "a", "name": "b"} means different things to different parsers; refuse it.
json::parser_callback_t rejectDuplicateKeys() {
    auto open = std::make_shared<std::vector<std::set<std::string>>>();
    return [open](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) {
            open->emplace_back();
        } else if (event == json::parse_event_t::object_end && !open->empty()) {
            open->pop_back();
        } else if (event == json::parse_event_t::key && !open->empty() &&
                   !open->back().insert(parsed.get<std::string>()).second) {
            throw DuplicateKey{parsed.get<std::string>()};
        }
        return true;
    };
}

}  // namespace

Result<void> rejectUnknownFields(const json& body, const std::set<std::string_view>& known) {
    for (const auto& [key, value] : body.items()) {
        if (!known.contains(key)) {
            return Error::invalid(key, "unknown field");
        }
    }
    return {};
}

Result<json> parseJsonObject(std::string_view body) {
    // nlohmann's lexer takes a NUL byte for the end of input and ignores what follows it;
    // a raw NUL is never valid JSON text, so refuse it before the parser can stop there.
    if (body.find('\0') != std::string_view::npos) {
        return Error::invalid("body", "malformed JSON");
    }
    if (nestingDepth(body) > kMaxJsonDepth) {
        return Error::invalid("body", "JSON nested deeper than 32 levels");
    }
    json parsed;
    try {
        parsed = json::parse(body, rejectDuplicateKeys(), false);
    } catch (const DuplicateKey& duplicate) {
        return Error::invalid("body", "duplicate key \"" + duplicate.key + "\"");
    }
    if (parsed.is_discarded()) {
        return Error::invalid("body", "malformed JSON");
    }
    if (!parsed.is_object()) {
        return Error::invalid("body", "must be a JSON object");
    }
    return parsed;
}

Result<model::Tags> parseTags(const json& body, const char* field) {
    model::Tags tags;
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) {
        return tags;
    }
    if (!it->is_object()) {
        return Error::invalid(field, "must be an object of string values");
    }
    for (const auto& [key, value] : it->items()) {
        if (!value.is_string()) {
            return Error::invalid(std::string(field) + "." + key, "must be a string");
        }
        tags.emplace(key, value.get<std::string>());
    }
    if (auto valid = model::validateTags(tags, field); !valid) {
        return valid.error();
    }
    return tags;
}

Result<model::CreateProject> parseCreateProject(const json& body) {
    if (auto known = rejectUnknownFields(body, {"name", "tags"}); !known) {
        return known.error();
    }
    auto name = body.find("name");
    if (name == body.end()) {
        return Error::invalid("name", "is required");
    }
    if (!name->is_string()) {
        return Error::invalid("name", "must be a string");
    }
    model::CreateProject request{.name = name->get<std::string>(), .tags = {}};
    if (auto valid = model::validateProjectName(request.name); !valid) {
        return valid.error();
    }
    auto tags = parseTags(body);
    if (!tags) {
        return tags.error();
    }
    request.tags = std::move(*tags);
    return request;
}

json toJson(const model::Project& project) {
    return json{
        {"id", project.id.str()},
        {"name", project.name},
        {"tags", project.tags},
        {"state", model::nameOf(project.state)},
        {"createdAt", model::formatTimestamp(project.createdAt)},
    };
}

json toJson(const model::InstanceType& type) {
    return json{
        {"name", type.name},
        {"cpu", type.cpu},
        {"memory", model::formatBinarySize(type.memoryBytes)},
        {"gpu_count", type.gpuCount},
        {"gpu_model", type.gpuModel},
    };
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace gpuhost::api

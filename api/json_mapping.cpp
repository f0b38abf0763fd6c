#include "json_mapping.hpp"

#include <memory>
#include <optional>
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

// {"name": "a", "name": "b"} means different things to different parsers; refuse it. A SAX
// pass that builds nothing, before the DOM parse: nlohmann's parser *callback* would do it in
// one pass, but with a callback every closed object scans its whole parent for discarded
// values, so a 128 KiB list of {} cost 79 s (quadratic). Two linear passes instead.
class DuplicateKeyFinder : public json::json_sax_t {
  public:
    std::optional<std::string> duplicate;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
        open_.emplace_back();
        return true;
    }
    bool key(string_t& name) override {
        if (!open_.back().insert(name).second) {
            duplicate = name;
            return false;  // stops the pass
        }
        return true;
    }
    bool end_object() override {
        open_.pop_back();
        return true;
    }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;  // the DOM parse reports it
    }

  private:
    std::vector<std::set<std::string>> open_;
};

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
    DuplicateKeyFinder keys;
    json::sax_parse(body, &keys, json::input_format_t::json, false);
    if (keys.duplicate) {
        return Error::invalid("body", "duplicate key \"" + *keys.duplicate + "\"");
    }
    json parsed = json::parse(body, nullptr, false);
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
    if (it->size() > model::kMaxTags) {  // before copying 1 MiB of tags only to refuse them
        return Error::invalid(field, "at most " + std::to_string(model::kMaxTags) + " tags are allowed");
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

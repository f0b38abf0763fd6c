#pragma once

// The bad-input corpus (tests/fixtures/bad-input/*.jsonl): loading a case, turning it
// into the bytes sent, and reading what came back. The format is in the README there.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpuhost::test {

struct CorpusCase {
    std::string where;  // file:line, for failure messages
    nlohmann::json spec;
    std::string name() const { return spec.at("name").get<std::string>(); }
};

inline std::filesystem::path corpusDir() {
    return std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/bad-input";
}

/// Every case of every *.jsonl file, in file-name then line order. Blank lines and lines
/// starting with "//" are skipped; a duplicate name or an unknown key is a fixture error.
inline std::vector<CorpusCase> loadCorpus() {
    static const std::set<std::string> kKeys = {"name",          "method", "path", "auth",    "headers",
                                                "extra_headers", "body",   "raw",  "drip_ms", "stall",
                                                "timeout_ms",    "expect", "why"};
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(corpusDir())) {
        if (entry.path().extension() == ".jsonl") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    std::vector<CorpusCase> cases;
    std::set<std::string> names;
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        std::string line;
        for (int number = 1; std::getline(in, line); ++number) {
            if (line.empty() || line.starts_with("//")) {
                continue;
            }
            std::string where = file.filename().string() + ":" + std::to_string(number);
            CorpusCase entry{where, nlohmann::json::parse(line)};
            for (const auto& [key, value] : entry.spec.items()) {
                if (!kKeys.contains(key)) {
                    throw std::runtime_error(where + ": unknown key " + key);
                }
            }
            if (!entry.spec.contains("name") || !entry.spec.contains("expect") ||
                !names.insert(entry.name()).second) {
                throw std::runtime_error(where + ": needs a unique name and an expect");
            }
            cases.push_back(std::move(entry));
        }
    }
    return cases;
}

/// `\xHH` in a fixture string is one raw byte (JSON strings cannot hold invalid UTF-8).
inline std::string unescapeBytes(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        bool hex = text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x' &&
                   std::isxdigit(static_cast<unsigned char>(text[i + 2])) &&
                   std::isxdigit(static_cast<unsigned char>(text[i + 3]));
        if (hex) {
            out += static_cast<char>(std::stoi(text.substr(i + 2, 2), nullptr, 16));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

/// Replaces each known "{name}" (ids made at run time, tokens) in `text`.
inline std::string fillPlaceholders(std::string text, const std::map<std::string, std::string>& values) {
    for (const auto& [name, value] : values) {
        std::string key = "{" + name + "}";
        for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size())) {
            text.replace(at, key.size(), value);
        }
    }
    return text;
}

/// A fixture value as bytes: a string (placeholders, then \xHH), an array (concatenated),
/// {"repeat": s, "count": n} or {"nest": n, "open": "[", "inner": "", "close": "]"}.
inline std::string render(const nlohmann::json& value, const std::map<std::string, std::string>& values) {
    if (value.is_string()) {
        return unescapeBytes(fillPlaceholders(value.get<std::string>(), values));
    }
    std::string out;
    if (value.is_array()) {
        for (const auto& part : value) {
            out += render(part, values);
        }
    } else if (value.contains("repeat")) {
        std::string unit = render(value.at("repeat"), values);
        for (std::size_t i = 0, n = value.at("count").get<std::size_t>(); i < n; ++i) {
            out += unit;
        }
    } else if (value.contains("nest")) {
        auto depth = value.at("nest").get<std::size_t>();
        std::string open = render(value.value("open", nlohmann::json("[")), values);
        std::string close = render(value.value("close", nlohmann::json("]")), values);
        for (std::size_t i = 0; i < depth; ++i) {
            out += open;
        }
        out += render(value.value("inner", nlohmann::json("")), values);
        for (std::size_t i = 0; i < depth; ++i) {
            out += close;
        }
    } else {
        throw std::runtime_error("unknown generator " + value.dump());
    }
    return out;
}

/// The request bytes of a case: `raw` as is, or a request line plus default headers
/// (operator token, X-PROJECT-ID of the test project, Connection: close, and for a body
/// Content-Type: application/json and its Content-Length) that `headers` overrides
/// (null removes one) and `extra_headers` adds to (repeats included).
inline std::string requestBytes(const nlohmann::json& spec,
                                const std::map<std::string, std::string>& values) {
    if (spec.contains("raw")) {
        return render(spec.at("raw"), values);
    }
    bool hasBody = spec.contains("body");
    std::string body = hasBody ? render(spec.at("body"), values) : std::string();
    std::string auth = spec.value("auth", "operator");
    std::vector<std::pair<std::string, std::string>> headers = {{"Host", "gpuhost"}};
    if (auth != "none") {
        headers.emplace_back("Authorization", "Bearer " + values.at(auth + "_token"));
    }
    headers.emplace_back("X-PROJECT-ID", values.at("project"));
    headers.emplace_back("Connection", "close");
    if (hasBody) {
        headers.emplace_back("Content-Type", "application/json");
        headers.emplace_back("Content-Length", std::to_string(body.size()));
    }
    const auto overrides = spec.value("headers", nlohmann::json::object());  // named: items() is a view
    for (const auto& [name, value] : overrides.items()) {
        std::erase_if(headers, [&](const auto& header) { return header.first == name; });
        if (!value.is_null()) {
            headers.emplace_back(name, render(value, values));
        }
    }
    const auto extras = spec.value("extra_headers", nlohmann::json::array());
    for (const auto& extra : extras) {
        headers.emplace_back(render(extra.at(0), values), render(extra.at(1), values));
    }
    std::string out = spec.value("method", "GET") + " " + render(spec.at("path"), values) + " HTTP/1.1\r\n";
    for (const auto& [name, value] : headers) {
        out += name + ": " + value + "\r\n";
    }
    return out + "\r\n" + body;
}

struct RawResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;
};

/// The final (non-1xx) responses in `reply`, in order; stops at bytes that do not parse.
inline std::vector<RawResponse> parseResponses(std::string_view reply) {
    std::vector<RawResponse> responses;
    while (reply.starts_with("HTTP/1.")) {
        auto end = reply.find("\r\n\r\n");
        if (end == std::string_view::npos || reply.size() < 12) {
            break;
        }
        RawResponse response;
        response.status = std::atoi(std::string(reply.substr(9, 3)).c_str());
        std::string_view head = reply.substr(0, end);
        for (auto at = head.find("\r\n"); at != std::string_view::npos;) {
            auto next = head.find("\r\n", at + 2);
            auto line = head.substr(at + 2, next == std::string_view::npos ? next : next - at - 2);
            auto colon = line.find(':');
            std::string name(line.substr(0, colon));
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            auto value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
            response.headers[name] =
                std::string(value.substr(std::min(value.find_first_not_of(' '), value.size())));
            at = next;
        }
        std::size_t length = std::strtoul(response.headers["content-length"].c_str(), nullptr, 10);
        response.body = std::string(reply.substr(end + 4, length));
        reply.remove_prefix(std::min(reply.size(), end + 4 + length));
        if (response.status >= 200) {
            responses.push_back(std::move(response));
        }
    }
    return responses;
}

}  // namespace gpuhost::test

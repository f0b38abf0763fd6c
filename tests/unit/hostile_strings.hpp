#pragma once

// The hostile strings of tests/fixtures/bad-input/hostile-strings.txt, and the
// character classes the injection tests need to know which outputs can carry them.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpuhost::test {

struct HostileString {
    int line = 0;       // in the fixture, for failure messages
    std::string bytes;  // after unescaping
};

/// Unescapes \\ \n \r \t and \xHH; anything else after a backslash is an error in the fixture.
inline std::string unescapeHostile(const std::string& text, int line) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        char next = i + 1 < text.size() ? text[i + 1] : '\0';
        ++i;
        if (next == '\\') {
            out += '\\';
        } else if (next == 'n') {
            out += '\n';
        } else if (next == 'r') {
            out += '\r';
        } else if (next == 't') {
            out += '\t';
        } else if (next == 'x' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            throw std::runtime_error("hostile-strings.txt:" + std::to_string(line) + ": bad escape");
        }
    }
    return out;
}

inline std::vector<HostileString> loadHostileStrings() {
    auto path = std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/bad-input/hostile-strings.txt";
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    std::vector<HostileString> strings;
    std::string text;
    for (int line = 1; std::getline(in, text); ++line) {
        if (text.empty() || text.starts_with("//")) {
            continue;
        }
        strings.push_back({line, unescapeHostile(text, line)});
    }
    return strings;
}

/// Decodes `text` as UTF-8 into code points; false when it is not well-formed UTF-8.
inline bool decodeUtf8(const std::string& text, std::vector<char32_t>& out) {
    for (std::size_t i = 0; i < text.size();) {
        auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = lead < 0x80         ? 1
                             : (lead >> 5) == 6  ? 2
                             : (lead >> 4) == 14 ? 3
                             : (lead >> 3) == 30 ? 4
                                                 : 0;
        if (length == 0 || i + length > text.size()) {
            return false;
        }
        char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
        for (std::size_t k = 1; k < length; ++k) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (next & 0x3F);
        }
        const char32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < minimum[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        out.push_back(cp);
        i += length;
    }
    return true;
}

/// XML 1.0 can carry the string at all (its Char production); others must never reach XML.
inline bool xmlCanCarry(const std::string& text) {
    std::vector<char32_t> points;
    if (!decodeUtf8(text, points)) {
        return false;
    }
    for (char32_t cp : points) {
        bool allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                       (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
        if (!allowed) {
            return false;
        }
    }
    return true;
}

/// YAML streams are Unicode: well-formed UTF-8 can be carried, escaped where needed, except
/// the noncharacters U+FFFE and U+FFFF, which yaml-cpp's emitter replaces with U+FFFD.
inline bool yamlCanCarry(const std::string& text) {
    std::vector<char32_t> points;
    return decodeUtf8(text, points) && std::none_of(points.begin(), points.end(),
                                                    [](char32_t cp) { return cp == 0xFFFE || cp == 0xFFFF; });
}

}  // namespace gpuhost::test

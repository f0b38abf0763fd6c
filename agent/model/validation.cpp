#include "model/validation.hpp"

#include <array>
#include <limits>

namespace gpuhost::model {

namespace {

bool isLowerAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isAlnum(char c) {
    return isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}

// Decodes one UTF-8 sequence starting at text[i]; returns its length, or 0 when malformed
// (overlong forms, surrogates and code points beyond U+10FFFF are malformed).
std::size_t decodeUtf8(std::string_view text, std::size_t i, char32_t& out) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    std::size_t length = lead < 0x80           ? 1
                         : (lead >> 5) == 0x6  ? 2
                         : (lead >> 4) == 0xE  ? 3
                         : (lead >> 3) == 0x1E ? 4
                                               : 0;
    if (length == 0 || i + length > text.size()) {
        return 0;
    }
    char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    static constexpr std::array<char32_t, 5> kMinForLength{0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    out = cp;
    return length;
}

bool isControl(char32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

}  // namespace

bool isPrintableUtf8(std::string_view text, std::size_t* codePoints) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp = 0;
        std::size_t length = decodeUtf8(text, i, cp);
        if (length == 0 || isControl(cp)) {
            return false;
        }
        i += length;
        ++count;
    }
    if (codePoints != nullptr) {
        *codePoints = count;
    }
    return true;
}

Result<void> validateProjectName(std::string_view name, const std::string& field) {
    std::size_t codePoints = 0;
    if (!isPrintableUtf8(name, &codePoints)) {
        return Error::invalid(field, "must be valid UTF-8 without control characters");
    }
    if (codePoints == 0 || codePoints > kMaxProjectNameLength) {
        return Error::invalid(field, "must be 1-128 characters");
    }
    if (name.front() == ' ' || name.back() == ' ') {
        return Error::invalid(field, "must not start or end with a space");
    }
    return {};
}

Result<void> validateResourceName(std::string_view name, const std::string& field) {
    if (name.empty() || name.size() > 63) {
        return Error::invalid(field, "must be 1-63 characters");
    }
    for (char c : name) {
        if (!isLowerAlnum(c) && c != '-') {
            return Error::invalid(field, "may contain only lowercase letters, digits and '-'");
        }
    }
    if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
        return Error::invalid(field, "must start and end with a lowercase letter or digit");
    }
    return {};
}

namespace {

Result<void> validateTagKey(std::string_view key, const std::string& field) {
    if (key.empty() || key.size() > 63) {
        return Error::invalid(field, "tag keys must be 1-63 characters");
    }
    for (char c : key) {
        if (!isAlnum(c) && c != '-' && c != '_' && c != '.') {
            return Error::invalid(field, "tag keys may contain only letters, digits, '-', '_' and '.'");
        }
    }
    if (!isAlnum(key.front()) || !isAlnum(key.back())) {
        return Error::invalid(field, "tag keys must start and end with a letter or digit");
    }
    return {};
}

}  // namespace

Result<void> validateTags(const Tags& tags, const std::string& field) {
    if (tags.size() > kMaxTags) {
        return Error::invalid(field, "at most 64 tags are allowed");
    }
    for (const auto& [key, value] : tags) {
        if (auto keyOk = validateTagKey(key, field); !keyOk) {
            return keyOk;
        }
        std::size_t codePoints = 0;
        std::string valueField = field + "." + key;
        if (!isPrintableUtf8(value, &codePoints)) {
            return Error::invalid(valueField, "tag values must be valid UTF-8 without control characters");
        }
        if (codePoints > kMaxTagValueLength) {
            return Error::invalid(valueField, "tag values must be at most 255 characters");
        }
    }
    return {};
}

Result<Uuid> parseUuidField(std::string_view text, const std::string& field) {
    if (auto id = Uuid::parse(text)) {
        return *id;
    }
    return Error::invalid(field, "must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
}

namespace {

struct Suffix {
    std::string_view text;
    unsigned shift;
};

constexpr std::array<Suffix, 4> kSuffixes{{{"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}}};

}  // namespace

Result<std::uint64_t> parseBinarySize(std::string_view text, const std::string& field) {
    auto bad = [&] {
        return Error::invalid(field,
                              "must be a positive integer with a suffix Ki, Mi, Gi or Ti (e.g. 512Gi)");
    };
    for (const auto& suffix : kSuffixes) {
        if (text.size() <= suffix.text.size() || !text.ends_with(suffix.text)) {
            continue;
        }
        std::string_view digits = text.substr(0, text.size() - suffix.text.size());
        if (digits.size() > 19 || digits.front() == '0') {
            return bad();
        }
        std::uint64_t number = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') {
                return bad();
            }
            number = number * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (number > (std::numeric_limits<std::uint64_t>::max() >> suffix.shift)) {
            return Error::invalid(field, "is too large");
        }
        return number << suffix.shift;
    }
    return bad();
}

std::string formatBinarySize(std::uint64_t bytes) {
    for (const auto& suffix : kSuffixes) {
        std::uint64_t unit = std::uint64_t{1} << suffix.shift;
        if (bytes != 0 && bytes % unit == 0) {
            return std::to_string(bytes / unit) + std::string(suffix.text);
        }
    }
    return std::to_string(bytes);
}

}  // namespace gpuhost::model

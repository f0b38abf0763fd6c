#include "pagination.hpp"

#include <array>
#include <charconv>
#include <optional>

namespace gpuhost::api {

using model::Error;
using model::Result;

namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kCursorVersion = "c1";
// Far more than any cursor this daemon makes (a UUID or a cluster id and a pool name).
constexpr std::size_t kMaxCursorChars = 512;

std::string base64url(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::uint32_t bits = 0;
    int held = 0;
    for (unsigned char c : bytes) {
        bits = (bits << 8) | c;
        held += 8;
        while (held >= 6) {
            held -= 6;
            out += kAlphabet[(bits >> held) & 0x3f];
        }
    }
    if (held > 0) {
        out += kAlphabet[(bits << (6 - held)) & 0x3f];
    }
    return out;
}

std::optional<std::string> unbase64url(std::string_view text) {
    std::string out;
    std::uint32_t bits = 0;
    int held = 0;
    for (char c : text) {
        auto value = kAlphabet.find(c);
        if (value == std::string_view::npos) {
            return std::nullopt;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        held += 6;
        if (held >= 8) {
            held -= 8;
            out += static_cast<char>((bits >> held) & 0xff);
        }
    }
    // Leftover bits must be zero padding, or two cursors could name the same key.
    if (held >= 6 || (bits & ((1U << held) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

struct QueryValue {
    std::string_view value;
    unsigned count = 0;
};

// The raw value of `name` in the query and how often it appears.
QueryValue queryValue(std::string_view target, std::string_view name) {
    QueryValue found;
    auto question = target.find('?');
    if (question == std::string_view::npos) {
        return found;
    }
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        auto end = query.find('&');
        std::string_view pair = query.substr(0, end);
        auto equals = pair.find('=');
        if (pair.substr(0, equals) == name) {
            found.value = equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
            ++found.count;
        }
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    }
    return found;
}

Result<std::size_t> parseLimit(std::string_view text, std::size_t maxItems) {
    std::string range = "must be an integer from 1 to " + std::to_string(maxItems);
    std::size_t limit = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || limit < 1 ||
        limit > maxItems) {
        return Error::invalid("limit", range);
    }
    return limit;
}

}  // namespace

std::string encodeCursor(const PageKey& key) {
    return base64url(std::string(kCursorVersion) + "." + std::to_string(key.order) + "." + key.id);
}

Result<PageKey> decodeCursor(std::string_view cursor) {
    auto bad = Error::invalid("cursor", "not a cursor this list gave out");
    if (cursor.empty() || cursor.size() > kMaxCursorChars) {
        return bad;
    }
    auto text = unbase64url(cursor);
    if (!text) {
        return bad;
    }
    std::string_view rest = *text;
    if (!rest.starts_with(kCursorVersion) || rest.substr(kCursorVersion.size(), 1) != ".") {
        return bad;
    }
    rest.remove_prefix(kCursorVersion.size() + 1);
    PageKey key;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), key.order);
    if (ec != std::errc() || end == rest.data() + rest.size() || *end != '.') {
        return bad;
    }
    key.id = std::string(end + 1, rest.data() + rest.size());
    if (key.id.empty()) {
        return bad;
    }
    return key;
}

Result<PageRequest> parsePageRequest(std::string_view target, std::size_t maxItems) {
    PageRequest request;
    request.limit = maxItems;
    auto limit = queryValue(target, "limit");
    auto cursor = queryValue(target, "cursor");
    if (limit.count > 1) {
        return Error::invalid("limit", "given more than once");
    }
    if (cursor.count > 1) {
        return Error::invalid("cursor", "given more than once");
    }
    if (limit.count == 1) {
        auto parsed = parseLimit(limit.value, maxItems);
        if (!parsed) {
            return parsed.error();
        }
        request.limit = *parsed;
        request.limitGiven = true;
    }
    if (cursor.count == 1) {
        auto key = decodeCursor(cursor.value);
        if (!key) {
            return key.error();
        }
        request.after = true;
        request.from = std::move(*key);
    }
    return request;
}

std::string nextPageTarget(std::string_view target, std::string_view cursor) {
    auto question = target.find('?');
    std::string out(target.substr(0, question));
    std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    char separator = '?';
    while (!query.empty()) {
        auto end = query.find('&');
        std::string_view pair = query.substr(0, end);
        if (!pair.empty() && pair.substr(0, pair.find('=')) != "cursor") {
            out += separator;
            out += pair;
            separator = '&';
        }
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    }
    out += separator;
    out += "cursor=";
    out += cursor;
    return out;
}

}  // namespace gpuhost::api

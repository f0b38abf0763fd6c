#include "model/ssh_key.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>

#include "model/validation.hpp"

namespace gpuhost::model {

namespace {

// What the wire format of each type holds after its type string (RFC 4253 6.6, RFC 5656 3.1,
// RFC 8709 4, OpenSSH PROTOCOL.u2f): checked so a blob that merely starts right is still refused.
enum class Layout { Ed25519, SkEd25519, Ecdsa, SkEcdsa, Rsa };

struct KeyType {
    std::string_view name;
    Layout layout;
    std::string_view curve;     // ECDSA only
    std::size_t pointSize = 0;  // ECDSA only: 0x04 || X || Y
};

constexpr std::array<KeyType, 7> kKeyTypes{{
    {"ssh-ed25519", Layout::Ed25519, {}, 0},
    {"ecdsa-sha2-nistp256", Layout::Ecdsa, "nistp256", 65},
    {"ecdsa-sha2-nistp384", Layout::Ecdsa, "nistp384", 97},
    {"ecdsa-sha2-nistp521", Layout::Ecdsa, "nistp521", 133},
    {"ssh-rsa", Layout::Rsa, {}, 0},
    {"sk-ssh-ed25519@openssh.com", Layout::SkEd25519, {}, 0},
    {"sk-ecdsa-sha2-nistp256@openssh.com", Layout::SkEcdsa, "nistp256", 65},
}};

// authorized_keys options without '=' (sshd(8)); with '=' or ',' any token is taken for options.
constexpr std::array<std::string_view, 14> kFlagOptions{
    "agent-forwarding",  "cert-authority", "no-agent-forwarding", "no-port-forwarding", "no-pty",
    "no-touch-required", "no-user-rc",     "no-x11-forwarding",   "port-forwarding",    "pty",
    "restrict",          "user-rc",        "verify-required",     "x11-forwarding"};

const KeyType* findType(std::string_view name) {
    for (const auto& type : kKeyTypes) {
        if (type.name == name) {
            return &type;
        }
    }
    return nullptr;
}

bool isBase64Char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Strict base64: the alphabet, a length that is a multiple of 4, '=' only as one or two final
// characters. EVP_DecodeBlock alone would skip whitespace and ignore where padding sits.
std::optional<std::string> decodeStrictBase64(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    std::string_view body = text.substr(0, text.size() - padding);
    if (!std::all_of(body.begin(), body.end(), isBase64Char)) {
        return std::nullopt;
    }
    std::string out(text.size() / 4 * 3, '\0');
    int length =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (length < 0 || static_cast<std::size_t>(length) < padding) {
        return std::nullopt;
    }
    out.resize(static_cast<std::size_t>(length) - padding);
    return out;
}

std::string encodeBase64(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    int length =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(length));
    return out;
}

// Reads SSH wire-format strings (uint32 big-endian length, then the bytes).
class WireReader {
  public:
    explicit WireReader(std::string_view data) : data_(data) {}

    std::optional<std::string_view> string() {
        if (data_.size() < 4) {
            return std::nullopt;
        }
        auto byte = [&](std::size_t i) {
            return static_cast<std::uint32_t>(static_cast<unsigned char>(data_[i]));
        };
        std::uint32_t length = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
        if (length > data_.size() - 4) {
            return std::nullopt;
        }
        std::string_view value = data_.substr(4, length);
        data_.remove_prefix(4 + length);
        return value;
    }
    bool done() const { return data_.empty(); }

  private:
    std::string_view data_;
};

// Bits of a positive mpint (RFC 4251 5); nullopt when negative or zero.
std::optional<unsigned> mpintBits(std::string_view value) {
    while (!value.empty() && value.front() == '\0') {
        value.remove_prefix(1);
    }
    if (value.empty()) {
        return std::nullopt;
    }
    auto lead = static_cast<unsigned char>(value.front());
    unsigned bits = static_cast<unsigned>(value.size() - 1) * 8;
    for (; lead != 0; lead >>= 1) {
        ++bits;
    }
    return bits;
}

// The fields after the type string; returns what is wrong, or an empty string.
std::string checkLayout(const KeyType& type, WireReader& reader) {
    if (type.layout == Layout::Rsa) {
        auto exponent = reader.string();
        auto modulus = reader.string();
        if (!exponent || !modulus || (!exponent->empty() && (exponent->front() & 0x80)) ||
            !mpintBits(*exponent) || (!modulus->empty() && (modulus->front() & 0x80))) {
            return "the RSA key data is malformed";
        }
        auto bits = mpintBits(*modulus);
        if (!bits || *bits < kMinRsaBits) {
            return "RSA keys must have at least 2048 bits";
        }
    } else if (type.layout == Layout::Ed25519 || type.layout == Layout::SkEd25519) {
        auto key = reader.string();
        if (!key || key->size() != 32) {
            return "the Ed25519 key data is malformed";
        }
    } else {
        auto curve = reader.string();
        auto point = reader.string();
        if (!curve || *curve != type.curve || !point || point->size() != type.pointSize ||
            point->front() != '\x04') {
            return "the ECDSA key data is malformed";
        }
    }
    if (type.layout == Layout::SkEd25519 || type.layout == Layout::SkEcdsa) {
        auto application = reader.string();
        if (!application || application->empty()) {
            return "the security key's application is missing";
        }
    }
    if (!reader.done()) {
        return "the key data has trailing bytes";
    }
    return {};
}

bool looksLikeOptions(std::string_view token, std::string_view rest) {
    if (token.find_first_of("=,\"") != std::string_view::npos) {
        return true;
    }
    std::string lower(token);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    if (std::find(kFlagOptions.begin(), kFlagOptions.end(), lower) != kFlagOptions.end()) {
        return true;
    }
    auto next = rest.substr(0, rest.find(' '));
    return findType(next) != nullptr;
}

std::string supportedList() {
    std::string list;
    for (const auto& type : kKeyTypes) {
        list += (list.empty() ? "" : ", ") + std::string(type.name);
    }
    return list;
}

std::string_view trimSpaces(std::string_view text) {
    auto first = text.find_first_not_of(' ');
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(' ') - first + 1);
}

// Splits off the next space-separated token; `rest` keeps what follows, without leading spaces.
std::string_view nextToken(std::string_view& rest) {
    auto end = rest.find(' ');
    std::string_view token = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : trimSpaces(rest.substr(end));
    return token;
}

}  // namespace

std::string SshPublicKey::line() const {
    return comment.empty() ? type + " " + blob : type + " " + blob + " " + comment;
}

const std::vector<std::string_view>& supportedSshKeyTypes() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> out;
        for (const auto& type : kKeyTypes) {
            out.push_back(type.name);
        }
        return out;
    }();
    return names;
}

Result<SshPublicKey> parseSshPublicKey(std::string_view text, const std::string& field) {
    if (text.size() > kMaxSshKeyLength) {
        return Error::invalid(field, "is longer than 8192 characters");
    }
    if (text.find_first_of("\r\n") != std::string_view::npos) {
        return Error::invalid(field, "must be a single line (one key per entry)");
    }
    if (!isPrintableUtf8(text)) {
        return Error::invalid(field, "must be valid UTF-8 without control characters (NUL, tab, escapes)");
    }
    std::string_view rest = trimSpaces(text);
    if (rest.empty()) {
        return Error::invalid(field, "must not be empty");
    }
    std::string_view typeName = nextToken(rest);
    const KeyType* type = findType(typeName);
    if (type == nullptr) {
        if (looksLikeOptions(typeName, rest)) {
            return Error::invalid(field,
                                  "must not carry authorized_keys options (command=, from=, no-pty, ...)");
        }
        return Error::invalid(field, "has an unknown key type; supported: " + supportedList());
    }
    std::string_view blobText = nextToken(rest);
    if (blobText.empty()) {
        return Error::invalid(field, "has no key data after the type");
    }
    auto blob = decodeStrictBase64(blobText);
    if (!blob) {
        return Error::invalid(field, "has key data that is not valid base64");
    }
    WireReader reader(*blob);
    auto embedded = reader.string();
    if (!embedded || *embedded != type->name) {
        return Error::invalid(field,
                              "has key data whose embedded type does not match " + std::string(type->name));
    }
    if (auto problem = checkLayout(*type, reader); !problem.empty()) {
        return Error::invalid(field, problem);
    }
    return SshPublicKey{std::string(type->name), encodeBase64(*blob), std::string(rest)};
}

Result<std::vector<SshPublicKey>> parseSshPublicKeys(const std::vector<std::string>& keys,
                                                     const std::string& field) {
    if (keys.size() > kMaxSshKeys) {
        return Error::invalid(field, "at most 32 keys are allowed");
    }
    std::vector<SshPublicKey> parsed;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        std::string itemField = field + "[" + std::to_string(i) + "]";
        auto key = parseSshPublicKey(keys[i], itemField);
        if (!key) {
            return key.error();
        }
        if (!seen.insert(key->type + " " + key->blob).second) {
            return Error::invalid(itemField, "repeats a key listed before it");
        }
        parsed.push_back(std::move(*key));
    }
    return parsed;
}

}  // namespace gpuhost::model

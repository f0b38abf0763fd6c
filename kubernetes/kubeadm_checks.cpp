// validate(ControlPlaneConfig) and validate(JoinConfig): each value is checked against the syntax
// Kubernetes itself requires, so a bad one fails here, not in kubeadm minutes into a boot.
#include <arpa/inet.h>

#include <algorithm>

#include "kubeadm_config.hpp"

namespace gpuhost::kubernetes {

namespace {

using model::Error;
using model::Result;

constexpr std::size_t kMaxCertSans = 64;
constexpr std::size_t kMaxCaCertHashes = 8;
constexpr std::size_t kMaxAddressText = 64;  // longer than any IPv6 text form
constexpr auto kMaxTokenTtl = std::chrono::hours(24 * 365);

enum class Family { None, V4, V6 };

Family addressFamily(std::string_view text) {
    if (text.empty() || text.size() > kMaxAddressText) {
        return Family::None;
    }
    std::string copy(text);  // inet_pton wants a terminated string
    unsigned char buffer[16];
    if (inet_pton(AF_INET, copy.c_str(), buffer) == 1) {
        return Family::V4;
    }
    if (inet_pton(AF_INET6, copy.c_str(), buffer) == 1) {
        return Family::V6;
    }
    return Family::None;
}

// "addr/len", len without leading zeros and within the family's width.
Family cidrFamily(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return Family::None;
    }
    auto family = addressFamily(text.substr(0, slash));
    auto length = text.substr(slash + 1);
    if (family == Family::None || length.empty() || length.size() > 3 ||
        (length.size() > 1 && length[0] == '0') ||
        !std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return Family::None;
    }
    return std::stoi(std::string(length)) <= (family == Family::V4 ? 32 : 128) ? family : Family::None;
}

// One CIDR, or a dual-stack pair of one IPv4 and one IPv6 CIDR.
Result<void> checkSubnet(std::string_view text, const std::string& field) {
    auto comma = text.find(',');
    auto first = cidrFamily(text.substr(0, comma));
    bool ok = first != Family::None;
    if (ok && comma != std::string_view::npos) {
        auto second = cidrFamily(text.substr(comma + 1));
        ok = second != Family::None && second != first;
    }
    if (!ok) {
        return Error::invalid(field,
                              "must be a CIDR (10.244.0.0/16), or an IPv4 and an IPv6 CIDR separated by ','");
    }
    return {};
}

// host:port with an IPv4 address, a [bracketed] IPv6 address or a DNS name.
Result<void> checkEndpoint(std::string_view text, const std::string& field) {
    auto colon = text.rfind(':');
    bool ok = colon != std::string_view::npos;
    if (ok) {
        auto host = text.substr(0, colon);
        auto port = text.substr(colon + 1);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
            ok = addressFamily(host.substr(1, host.size() - 2)) == Family::V6;
        } else {
            ok = addressFamily(host) == Family::V4 || isDnsSubdomain(host);
        }
        ok = ok && !port.empty() && port.size() <= 5 && port[0] != '0' &&
             std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
             std::stoi(std::string(port)) <= 65535;
    }
    if (!ok) {
        return Error::invalid(field,
                              "must be host:port (10.0.0.5:6443, [fd00::5]:6443 or api.example.com:6443)");
    }
    return {};
}

Result<void> checkCertSans(const std::vector<std::string>& sans, const std::string& field) {
    if (sans.size() > kMaxCertSans) {
        return Error::invalid(field, "must hold at most " + std::to_string(kMaxCertSans) + " names");
    }
    for (std::size_t i = 0; i < sans.size(); ++i) {
        std::string_view san = sans[i];
        auto name = san.starts_with("*.") ? san.substr(2) : san;
        if (addressFamily(san) == Family::None && !isDnsSubdomain(name)) {
            return Error::invalid(field + "[" + std::to_string(i) + "]",
                                  "must be an IP address or a DNS name");
        }
    }
    return {};
}

bool allOf(std::string_view text, bool (*accept)(char)) {
    return std::all_of(text.begin(), text.end(), accept);
}

bool isLowerAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isLowerHex(char c) {
    return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9');
}

// pki.hpp's isBootstrapToken checks the same shape; this library must not need pki.cpp.
Result<void> checkToken(std::string_view token, const std::string& field) {
    if (token.size() != 23 || token[6] != '.' || !allOf(token.substr(0, 6), isLowerAlnum) ||
        !allOf(token.substr(7), isLowerAlnum)) {
        return Error::invalid(field, "must be a bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}");
    }
    return {};
}

Result<void> checkCaCertHashes(const std::vector<std::string>& hashes, const std::string& field) {
    if (hashes.empty() || hashes.size() > kMaxCaCertHashes) {
        return Error::invalid(field, "must hold 1-" + std::to_string(kMaxCaCertHashes) +
                                         " hashes (joining without pinning the CA is not offered)");
    }
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        std::string_view hash = hashes[i];
        if (hash.size() != 71 || !hash.starts_with("sha256:") || !allOf(hash.substr(7), isLowerHex)) {
            return Error::invalid(field + "[" + std::to_string(i) + "]",
                                  "must be sha256:<64 lowercase hex digits>");
        }
    }
    return {};
}

Result<void> checkName(const std::string& name, const std::string& field) {
    if (!isDnsSubdomain(name)) {
        return Error::invalid(field,
                              "must be a DNS name: lowercase letters, digits, '-' and '.', at most 253");
    }
    return {};
}

// What both kinds of node share: the version, the node's name, labels and taints.
Result<void> checkNode(const KubernetesVersion& version, const std::string& nodeName, const Labels& labels,
                       const std::vector<Taint>& taints) {
    if (auto api = kubeadmApiVersion(version, "version"); !api) {
        return api.error();
    }
    if (auto ok = checkName(nodeName, "nodeName"); !ok) {
        return ok;
    }
    if (auto ok = validateNodeLabels(labels, "nodeLabels"); !ok) {
        return ok;
    }
    return validateTaints(taints, "nodeTaints");
}

}  // namespace

Result<void> validate(const ControlPlaneConfig& config) {
    if (auto ok = checkNode(config.version, config.nodeName, config.nodeLabels, config.nodeTaints); !ok) {
        return ok;
    }
    if (auto ok = checkName(config.clusterName, "clusterName"); !ok) {
        return ok;
    }
    if (config.controlPlaneEndpoint) {
        if (auto ok = checkEndpoint(*config.controlPlaneEndpoint, "controlPlaneEndpoint"); !ok) {
            return ok;
        }
    }
    if (auto ok = checkSubnet(config.podSubnet, "podSubnet"); !ok) {
        return ok;
    }
    if (auto ok = checkSubnet(config.serviceSubnet, "serviceSubnet"); !ok) {
        return ok;
    }
    if (auto ok = checkToken(config.bootstrapToken, "bootstrapToken"); !ok) {
        return ok;
    }
    // 0s would be a token that never expires.
    if (config.tokenTtl <= std::chrono::seconds(0) || config.tokenTtl > kMaxTokenTtl) {
        return Error::invalid("tokenTtl", "must be between 1 second and 365 days");
    }
    return checkCertSans(config.certSans, "certSans");
}

Result<void> validate(const JoinConfig& config) {
    if (auto ok = checkNode(config.version, config.nodeName, config.nodeLabels, config.nodeTaints); !ok) {
        return ok;
    }
    if (auto ok = checkEndpoint(config.apiServerEndpoint, "apiServerEndpoint"); !ok) {
        return ok;
    }
    if (auto ok = checkToken(config.token, "token"); !ok) {
        return ok;
    }
    return checkCaCertHashes(config.caCertHashes, "caCertHashes");
}

}  // namespace gpuhost::kubernetes

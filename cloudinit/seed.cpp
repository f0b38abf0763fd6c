#include "seed.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace gpuhost::cloudinit {

namespace {

constexpr std::string_view kBoundary = "==gpuhost.part.boundary==";
// $1: the mount point, $2: the virtiofs tag. No single quote: it sits in a YAML
// single-quoted scalar. The last check tolerates systemd mounting it from fstab meanwhile.
constexpr std::string_view kMountScript =
    R"(mkdir -p "$1" && { mountpoint -q "$1" || mount -t virtiofs "$2" "$1" || mountpoint -q "$1"; })";
constexpr std::string_view kMergeType = "list(append)+dict(recurse_array,no_replace)+str()";

std::string base64Lines(std::string_view bytes) {
    std::string out;
    constexpr std::size_t kChunk = 57;  // 57 bytes → one 76-character line, as MIME wants
    std::array<unsigned char, 80> line{};
    for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
        auto length = std::min(kChunk, bytes.size() - at);
        int written = EVP_EncodeBlock(line.data(), reinterpret_cast<const unsigned char*>(bytes.data() + at),
                                      static_cast<int>(length));
        out.append(reinterpret_cast<const char*>(line.data()), static_cast<std::size_t>(written));
        out += '\n';
    }
    return out;
}

void appendPart(std::string& out, const std::string& contentType, const std::string& filename,
                std::string_view content, bool agentCloudConfig) {
    out += "--";
    out += kBoundary;
    out += "\nContent-Type: " + contentType + "; charset=\"utf-8\"\n";
    out += "MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n";
    out += "Content-Disposition: attachment; filename=\"" + filename + "\"\n";
    if (agentCloudConfig) {
        out += "Merge-Type: ";
        out += kMergeType;
        out += "\n";
    }
    out += "\n" + base64Lines(content);
}

}  // namespace

std::string metaData(const model::Uuid& instanceId, std::string_view hostname) {
    YAML::Emitter yaml;
    // Values are always quoted: a hostname like "1234" must stay a string.
    yaml << YAML::BeginMap << YAML::Key << "instance-id" << YAML::Value << YAML::DoubleQuoted
         << instanceId.str() << YAML::Key << "local-hostname" << YAML::Value << YAML::DoubleQuoted
         << std::string(hostname) << YAML::EndMap;
    return std::string(yaml.c_str()) + "\n";
}

// The MAC is quoted: unquoted, YAML 1.1 (PyYAML, so cloud-init) reads 52:54:00:12:34:56
// as a base-60 integer.
std::string networkConfig(std::string_view macAddress) {
    YAML::Emitter yaml;
    yaml << YAML::BeginMap << YAML::Key << "version" << YAML::Value << 2 << YAML::Key << "ethernets"
         << YAML::Value << YAML::BeginMap << YAML::Key << "eth0" << YAML::Value << YAML::BeginMap << YAML::Key
         << "match" << YAML::Value << YAML::BeginMap << YAML::Key << "macaddress" << YAML::Value
         << YAML::DoubleQuoted << std::string(macAddress) << YAML::EndMap << YAML::Key << "set-name"
         << YAML::Value << "eth0" << YAML::Key << "dhcp4" << YAML::Value << true << YAML::EndMap
         << YAML::EndMap << YAML::EndMap;
    return std::string(yaml.c_str()) + "\n";
}

std::string contentTypeOf(std::string_view userData) {
    struct Prefix {
        std::string_view start;
        std::string_view type;
    };
    // Longest prefixes first: "#cloud-config-archive" before "#cloud-config".
    static constexpr std::array<Prefix, 9> kPrefixes{{
        {"#cloud-config-archive", "text/cloud-config-archive"},
        {"#cloud-config-jsonp", "text/cloud-config-jsonp"},
        {"#cloud-config", "text/cloud-config"},
        {"#cloud-boothook", "text/cloud-boothook"},
        {"#include-once", "text/x-include-once-url"},
        {"#include", "text/x-include-url"},
        {"#part-handler", "text/part-handler"},
        {"## template: jinja", "text/jinja2"},
        {"#!", "text/x-shellscript"},
    }};
    if (userData.size() >= 2 && static_cast<unsigned char>(userData[0]) == 0x1f &&
        static_cast<unsigned char>(userData[1]) == 0x8b) {
        return "application/x-gzip";
    }
    for (const auto& prefix : kPrefixes) {
        if (userData.starts_with(prefix.start)) {
            return std::string(prefix.type);
        }
    }
    // cloud-init treats data as MIME when "mime-version:" appears (any case) early on.
    std::string head(userData.substr(0, 4096));
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head.find("mime-version:") != std::string::npos || head.starts_with("content-type: multipart")) {
        return "multipart/mixed";
    }
    return "text/plain";
}

model::Result<std::string> userData(std::string_view userBytes, const std::vector<Part>& agentParts) {
    if (agentParts.empty()) {
        return std::string(userBytes);
    }
    std::string userType = contentTypeOf(userBytes);
    if (userType == "application/x-gzip" || userType == "multipart/mixed") {
        return model::Error::invalid(
            "userData",
            "gzip or MIME userData cannot be combined with the agent's own cloud-init "
            "parts (filesystems, clusters); send plain #cloud-config or a script");
    }
    std::string out =
        "Content-Type: multipart/mixed; boundary=\"" + std::string(kBoundary) + "\"\nMIME-Version: 1.0\n\n";
    if (!userBytes.empty()) {
        appendPart(out, userType, "user-data", userBytes, false);
    }
    for (const auto& part : agentParts) {
        appendPart(out, part.contentType, part.filename, part.content,
                   part.contentType == "text/cloud-config");
    }
    out += "--";
    out += kBoundary;
    out += "--\n";
    return out;
}

std::optional<Part> mountPart(const std::vector<Mount>& mounts) {
    if (mounts.empty()) {
        return std::nullopt;
    }
    // Mounted in bootcmd (init stage, every boot): the user's part comes first in the merge,
    // so a mount in runcmd would come after the user's own runcmd, which may need the
    // filesystem. bootcmd runs before write_files, so it mounts by tag rather than through
    // fstab; on later boots fstab (nofail) may have mounted it already, or be mounting it
    // now. Names reach the script as positional parameters, never as shell text.
    // fstab rather than cloud-init's `mounts` module: cloud-init 22.4 drops devices it
    // cannot find as block devices, which a virtiofs tag never is.
    std::string fstab, commands;
    for (const auto& mount : mounts) {
        fstab += "      " + mount.tag + " /mnt/" + mount.name + " virtiofs defaults,nofail 0 0\n";
        commands += "  - [sh, -c, '" + std::string(kMountScript) + "', gpuhost-mount, /mnt/" + mount.name +
                    ", " + mount.tag + "]\n";
    }
    return Part{"text/cloud-config", "gpuhost-filesystems.cfg",
                "#cloud-config\n# gpuhost: shared filesystems (virtiofs)\nbootcmd:\n" + commands +
                    "write_files:\n  - path: /etc/fstab\n    append: true\n    content: |\n" + fstab};
}

}  // namespace gpuhost::cloudinit

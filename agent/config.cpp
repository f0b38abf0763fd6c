#include "config.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "config_yaml.hpp"
#include "model/validation.hpp"

namespace gpuhost::agent {

using namespace config_yaml;

namespace {

void parseListen(Config& config, const YAML::Node& node) {
    std::string text = scalar(node, "listen");
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        fail("listen", "must be host:port");
    }
    std::string host = text.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    std::string port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535) {
        fail("listen", "port must be 0-65535");
    }
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (ec && host != "localhost") {
        fail("listen", "host must be an IP address or localhost");
    }
    config.listenHost = host == "localhost" ? "127.0.0.1" : host;
    config.listenPort = static_cast<std::uint16_t>(std::stoul(port));
}

std::array<std::uint8_t, 32> parseSha256(const std::string& hex, const std::string& key) {
    std::array<std::uint8_t, 32> out{};
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        fail(key, "must be 64 hex digits (SHA-256 of the token)");
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(i * 2, 2), nullptr, 16));
    }
    return out;
}

TokenConfig parseToken(const YAML::Node& node, const std::string& key) {
    rejectUnknownKeys(node, key, {"name", "sha256", "projects"});
    if (!node["name"] || !node["sha256"] || !node["projects"]) {
        fail(key, "needs name, sha256 and projects");
    }
    TokenConfig token;
    token.name = scalar(node["name"], key + ".name");
    if (token.name.empty() || !model::isPrintableUtf8(token.name)) {
        fail(key + ".name", "must be printable text");
    }
    token.sha256 = parseSha256(scalar(node["sha256"], key + ".sha256"), key + ".sha256");
    const auto& projects = node["projects"];
    if (!projects.IsSequence() || projects.size() == 0) {
        fail(key + ".projects", "must be a non-empty list of project ids or \"*\"");
    }
    for (std::size_t i = 0; i < projects.size(); ++i) {
        std::string itemKey = key + ".projects[" + std::to_string(i) + "]";
        std::string text = scalar(projects[i], itemKey);
        if (text == "*") {
            token.allProjects = true;
        } else if (auto id = model::Uuid::parse(text)) {
            token.projects.push_back(*id);
        } else {
            fail(itemKey, "must be a project UUID or \"*\"");
        }
    }
    return token;
}

void parseAuth(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(node, "auth", {"tokens"});
    const auto& tokens = node["tokens"];
    if (!tokens || !tokens.IsSequence() || tokens.size() == 0) {
        fail("auth.tokens", "must be a non-empty list");
    }
    std::set<std::string> names;
    std::set<std::array<std::uint8_t, 32>> hashes;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        std::string key = "auth.tokens[" + std::to_string(i) + "]";
        auto token = parseToken(tokens[i], key);
        if (!names.insert(token.name).second) {
            fail(key + ".name", "duplicate token name");
        }
        // Two entries for one token would leave its scope to the order of the list.
        if (!hashes.insert(token.sha256).second) {
            fail(key + ".sha256", "the same token is configured twice");
        }
        config.tokens.push_back(std::move(token));
    }
}

void parseImages(Config& config, const YAML::Node& node, const std::filesystem::path& base) {
    if (!node.IsMap()) {
        fail("images", "must be a mapping of image name to path");
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
        std::string name = entry.first.as<std::string>();
        std::string key = "images." + name;
        if (!seen.insert(name).second) {
            fail(key, "given more than once");
        }
        if (!isCatalogName(name)) {
            fail(key, "image names must be 1-63 lowercase letters, digits, '.', '-' or '_'");
        }
        ImageConfig image;
        image.name = name;
        if (entry.second.IsScalar()) {
            image.path = resolvePath(entry.second, key, base);
        } else {
            rejectUnknownKeys(entry.second, key, {"path", "format", "kernel", "initrd", "cmdline"});
            if (!entry.second["path"]) {
                fail(key + ".path", "is required");
            }
            image.path = resolvePath(entry.second["path"], key + ".path", base);
            if (entry.second["format"]) {
                image.format = scalar(entry.second["format"], key + ".format");
                if (image.format != "qcow2" && image.format != "raw") {
                    fail(key + ".format", "must be qcow2 or raw");
                }
            }
            if (entry.second["kernel"]) {
                image.kernel = resolvePath(entry.second["kernel"], key + ".kernel", base);
            }
            if (entry.second["initrd"]) {
                image.initrd = resolvePath(entry.second["initrd"], key + ".initrd", base);
            }
            if (entry.second["cmdline"]) {
                image.cmdline = scalar(entry.second["cmdline"], key + ".cmdline");
            }
        }
        config.images.push_back(std::move(image));
    }
}

void parseLimits(Config& config, const YAML::Node& node) {
    rejectUnknownKeys(
        node, "limits",
        {"body_bytes", "user_data_bytes", "header_bytes", "max_connections", "max_connections_per_address",
         "header_timeout_s", "body_timeout_s", "idle_timeout_s", "idle_timeout_under_pressure_s",
         "send_timeout_s", "shutdown_grace_s", "list_max_items"});
    auto& limits = config.limits;
    if (node["body_bytes"]) {
        limits.bodyBytes = positiveInteger(node["body_bytes"], "limits.body_bytes", 64 << 20);
    }
    if (node["user_data_bytes"]) {
        limits.userDataBytes = positiveInteger(node["user_data_bytes"], "limits.user_data_bytes", 16 << 20);
    }
    if (node["header_bytes"]) {
        limits.headerBytes = positiveInteger(node["header_bytes"], "limits.header_bytes", 1 << 20);
    }
    if (node["max_connections"]) {
        limits.maxConnections = static_cast<unsigned>(
            positiveInteger(node["max_connections"], "limits.max_connections", 1000000));
    }
    if (node["max_connections_per_address"]) {
        limits.maxConnectionsPerAddress = static_cast<unsigned>(positiveInteger(
            node["max_connections_per_address"], "limits.max_connections_per_address", 1000000));
    }
    if (node["header_timeout_s"]) {
        limits.headerTimeout = seconds(node["header_timeout_s"], "limits.header_timeout_s");
    }
    if (node["body_timeout_s"]) {
        limits.bodyTimeout = seconds(node["body_timeout_s"], "limits.body_timeout_s");
    }
    if (node["idle_timeout_s"]) {
        limits.idleTimeout = seconds(node["idle_timeout_s"], "limits.idle_timeout_s");
    }
    if (node["idle_timeout_under_pressure_s"]) {
        limits.idleTimeoutUnderPressure =
            seconds(node["idle_timeout_under_pressure_s"], "limits.idle_timeout_under_pressure_s");
    }
    if (node["send_timeout_s"]) {
        limits.sendTimeout = seconds(node["send_timeout_s"], "limits.send_timeout_s");
    }
    if (node["list_max_items"]) {
        limits.listMaxItems = positiveInteger(node["list_max_items"], "limits.list_max_items", 100000);
    }
    if (node["shutdown_grace_s"]) {
        // Keep it under the unit's TimeoutStopSec (30 s), or systemd kills the drain.
        limits.shutdownGrace =
            std::chrono::seconds(positiveInteger(node["shutdown_grace_s"], "limits.shutdown_grace_s", 25));
    }
    // userData is base64 inside a JSON body, so the body must be able to carry it.
    if (limits.bodyBytes < limits.userDataBytes / 3 * 4 + 4096) {
        fail("limits.body_bytes", "must hold user_data_bytes once base64-encoded (plus 4 KiB)");
    }
}

void parseTls(Config& config, const YAML::Node& node, const std::filesystem::path& base) {
    rejectUnknownKeys(node, "tls", {"cert", "key"});
    if (!node["cert"] || !node["key"]) {
        fail("tls", "needs both cert and key");
    }
    config.tls =
        TlsConfig{resolvePath(node["cert"], "tls.cert", base), resolvePath(node["key"], "tls.key", base)};
}

void parseTopLevel(Config& config, const YAML::Node& root, const std::filesystem::path& base) {
    rejectUnknownKeys(root, "", {"region",      "listen",    "state_dir",  "allow_insecure_http", "tls",
                                 "libvirt",     "auth",      "images",     "instance_types",      "capacity",
                                 "limits",      "log_level", "io_threads", "blocking_threads",    "hosts",
                                 "filesystems", "clusters",  "slurm",      "kubernetes",          "quotas"});
    if (root["region"]) {
        config.region = scalar(root["region"], "region");
        if (auto ok = model::validateResourceName(config.region, "region"); !ok) {
            fail("region", "must be 1-63 lowercase letters, digits and '-'");
        }
    }
    if (root["listen"]) {
        parseListen(config, root["listen"]);
    }
    if (!root["state_dir"]) {
        fail("state_dir", "is required");
    }
    config.stateDir = resolvePath(root["state_dir"], "state_dir", base);
    if (root["allow_insecure_http"]) {
        config.allowInsecureHttp = boolean(root["allow_insecure_http"], "allow_insecure_http");
    }
    if (root["tls"]) {
        parseTls(config, root["tls"], base);
    }
    if (root["libvirt"]) {
        parseLibvirt(config, root["libvirt"]);
    }
    config.filesystemsRoot = config.stateDir / "filesystems";
    if (root["filesystems"]) {
        parseFilesystems(config, root["filesystems"], base);
    }
    if (root["hosts"]) {
        if (root["libvirt"] && root["libvirt"]["uri"]) {
            fail("hosts", "give either hosts or libvirt.uri, not both");
        }
        parseHosts(config, root["hosts"]);
    } else {
        config.hosts.push_back({"local", config.libvirtUri});
    }
    // The helper unmounts only <filesystems.root>/<name>; with several hosts each has a folder
    // of its own below the root.
    if (!config.unmountHelper.empty() && config.hosts.size() > 1) {
        fail("filesystems.unmount_helper", "serves one host's filesystems.root; not with several hosts");
    }
    if (!root["auth"]) {
        fail("auth", "is required (auth.tokens)");
    }
    parseAuth(config, root["auth"]);
    if (root["images"]) {
        parseImages(config, root["images"], base);
    }
    if (root["instance_types"]) {
        parseInstanceTypes(config, root["instance_types"]);
    }
    if (root["capacity"]) {
        parseCapacity(config, root["capacity"]);
    }
    if (root["clusters"]) {
        parseClusters(config, root["clusters"]);
    }
    if (root["kubernetes"]) {
        parseKubernetes(config, root["kubernetes"]);
    }
    if (root["slurm"]) {
        parseSlurm(config, root["slurm"]);
    }
    if (root["limits"]) {
        parseLimits(config, root["limits"]);
    }
    if (root["quotas"]) {
        parseQuotas(config, root["quotas"]);
    }
    if (root["log_level"]) {
        config.logLevel = scalar(root["log_level"], "log_level");
        if (config.logLevel != "debug" && config.logLevel != "info" && config.logLevel != "warn" &&
            config.logLevel != "error") {
            fail("log_level", "must be debug, info, warn or error");
        }
    }
    if (root["io_threads"]) {
        config.ioThreads = static_cast<unsigned>(positiveInteger(root["io_threads"], "io_threads", 256));
    }
    if (root["blocking_threads"]) {
        config.blockingThreads =
            static_cast<unsigned>(positiveInteger(root["blocking_threads"], "blocking_threads", 256));
    }
}

}  // namespace

bool isLoopbackHost(const std::string& host) {
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::string_view nameOf(VirtType type) {
    return type == VirtType::Kvm ? "kvm" : "qemu";
}

Config parseConfig(const std::string& yamlText, const std::filesystem::path& baseDir) {
    YAML::Node root;
    try {
        root = YAML::Load(yamlText);
    } catch (const YAML::Exception& e) {
        throw ConfigError("config: invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    Config config;
    try {
        parseTopLevel(config, root, baseDir);
    } catch (const YAML::Exception& e) {
        throw ConfigError("config: " + e.msg);
    }
    if (!config.tls && !config.allowInsecureHttp && !isLoopbackHost(config.listenHost)) {
        fail("listen",
             "plain HTTP on a non-loopback address would send bearer tokens in clear: configure "
             "tls.cert/tls.key "
             "or set allow_insecure_http: true");
    }
    return config;
}

Config loadConfigFile(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) {
        throw ConfigError("config: cannot read " + file.string());
    }
    std::stringstream text;
    text << in.rdbuf();
    auto base = std::filesystem::absolute(file).parent_path();
    return parseConfig(text.str(), base);
}

}  // namespace gpuhost::agent

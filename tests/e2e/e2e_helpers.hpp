#pragma once

// Shared by the e2e tests: the dev image, virsh and the guest agent.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "json_mapping.hpp"
#include "process/process.hpp"
#include "support/daemon.hpp"

namespace gpuhost::test::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

inline const fs::path kImage = fs::path(GPUHOST_SOURCE_DIR) / "images/cache/debian12";
inline constexpr auto kBootTimeout = std::chrono::minutes(5);

inline std::string virsh(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"virsh", "-c", "qemu:///system"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = drivers::runProcess(argv, std::chrono::seconds(30));
    return result.ok() && result->exitCode == 0 ? result->output : std::string();
}

inline std::optional<json> agentCommand(const std::string& domain, const json& command) {
    auto output = virsh({"qemu-agent-command", domain, command.dump()});
    auto parsed = json::parse(output, nullptr, false);
    return parsed.is_object() ? std::optional<json>(parsed) : std::nullopt;
}

// Runs argv in the guest through the agent; its stdout once it exits.
inline std::optional<std::string> guestExec(const std::string& domain, const std::vector<std::string>& argv) {
    auto started = agentCommand(domain, {{"execute", "guest-exec"},
                                         {"arguments",
                                          {{"path", argv[0]},
                                           {"arg", std::vector<std::string>(argv.begin() + 1, argv.end())},
                                           {"capture-output", true}}}});
    if (!started) {
        return std::nullopt;
    }
    int pid = (*started)["return"]["pid"];
    for (int i = 0; i < 100; ++i) {
        auto status = agentCommand(domain, {{"execute", "guest-exec-status"}, {"arguments", {{"pid", pid}}}});
        if (status && (*status)["return"]["exited"].get<bool>()) {
            auto encoded = (*status)["return"].value("out-data", std::string());
            auto decoded = api::decodeBase64Field(encoded, "out-data");
            return decoded.ok() ? *decoded : std::string();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

inline std::string base64(const std::string& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    int length =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(length));
    return out;
}

inline std::string readFile(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto content = text.str();
    while (!content.empty() && content.back() == '\n') {
        content.pop_back();
    }
    return content;
}

/// The config sections every e2e daemon uses: the dev image, a tiny type, qemu:///system.
inline std::string e2eConfig() {
    std::string images = "images:\n  ubuntu22.04:\n    path: " + (kImage / "root.qcow2").string() +
                         "\n    kernel: " + (kImage / "vmlinuz").string() +
                         "\n    initrd: " + (kImage / "initrd.img").string() + "\n    cmdline: \"" +
                         readFile(kImage / "cmdline") + "\"\n";
    std::string types = "instance_types:\n  - {name: e2e.tiny, cpu: 1, memory: 768Mi}\n";
    // A longer ACPI timeout than the integration tier's, and a smaller TCG cache.
    std::string libvirt =
        "libvirt:\n  uri: qemu:///system\n  virt_type: qemu\n  pool: @POOL@\n"
        "  tcg_cache_mib: 128\n  shutdown_timeout_s: 60\n  resync_interval_s: 300\n";
    return images + types + libvirt;
}

/// Where every e2e daemon keeps its state (support/daemon.cpp's mkdtemp pattern).
inline constexpr std::string_view kDaemonDirPrefix = "/tmp/gpuhost-test-";

/// Removes what e2e daemons left on qemu:///system under `root` (one test's folder, or
/// kDaemonDirPrefix for every earlier run): domains whose XML names a path there, storage
/// pools whose target lies there, and mounts under it (libvirt 9.0 does not unmount a
/// loop-mounted fs pool itself). VM tests hold ctest's `vm` lock, so nothing under the
/// prefix is in use by another test meanwhile. Returns what it removed, for the log.
inline std::vector<std::string> sweepLeftovers(const std::string& root) {
    std::vector<std::string> removed;
    // Where `text` names a path under `root`, the daemon folder it lies in is still in use when
    // a live Daemon holds its lock (an integration test on qemu:///system, say): leave it.
    auto ours = [&](const std::string& text, std::size_t at) {
        auto folder = text.substr(at, text.find('/', at + root.size()) - at);
        if (!folder.starts_with(kDaemonDirPrefix)) {
            return true;  // a folder the caller named itself (its own, after its daemon is gone)
        }
        int fd = ::open((folder + "/" + Daemon::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return true;  // no lock file: a crashed run's folder, or already removed
        }
        bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
        ::close(fd);
        return free;
    };
    // Paths in libvirt's XML start right after a quote or a tag, never mid-path.
    auto findPath = [&](const std::string& xml) {
        for (auto at = xml.find(root); at != std::string::npos; at = xml.find(root, at + 1)) {
            if (at > 0 && (xml[at - 1] == '\'' || xml[at - 1] == '"' || xml[at - 1] == '>') &&
                ours(xml, at)) {
                return at;
            }
        }
        return std::string::npos;
    };
    auto names = [](const std::string& listing) {
        std::vector<std::string> out;
        std::istringstream lines(listing);
        for (std::string line; std::getline(lines, line);) {
            // `virsh pool-list --name` pads each name with spaces: a name kept with them names
            // no pool, and the pool leaked (47 were found on this machine).
            line.erase(line.find_last_not_of(" \t") + 1);
            if (!line.empty()) {
                out.push_back(line);
            }
        }
        return out;
    };
    for (const auto& domain : names(virsh({"list", "--all", "--name"}))) {
        if (domain.starts_with("gpuhost-") && findPath(virsh({"dumpxml", domain})) != std::string::npos) {
            virsh({"destroy", domain});
            virsh({"undefine", domain});
            removed.push_back("domain " + domain);
        }
    }
    auto unmountUnder = [&](const std::string& under) {
        std::vector<std::string> points;
        std::ifstream mounts("/proc/mounts");
        for (std::string device, point, rest; mounts >> device >> point && std::getline(mounts, rest);) {
            if (point.starts_with(under) && ours(point, 0)) {
                points.push_back(point);
            }
        }
        std::sort(points.rbegin(), points.rend());  // deepest first
        for (const auto& point : points) {
            (void)drivers::runProcess({"umount", point}, std::chrono::seconds(30));
            removed.push_back("mount " + point);
        }
    };
    for (const auto& pool : names(virsh({"pool-list", "--all", "--name"}))) {
        auto xml = virsh({"pool-dumpxml", pool});
        // The pool's target, not an fs pool's source image (which may lie elsewhere).
        auto target = xml.find("<path>" + root);
        if (target == std::string::npos || !ours(xml, target += 6)) {
            continue;
        }
        virsh({"pool-destroy", pool});
        auto end = xml.find("</path>", target);
        unmountUnder(xml.substr(target, end - target));
        virsh({"pool-undefine", pool});
        removed.push_back("pool " + pool);
    }
    unmountUnder(root);
    return removed;
}

/// Declared before the Daemon (so it runs after the daemon is killed), it sweeps the
/// daemon's folder on qemu:///system however the test ends: a failed REQUIRE leaves no
/// running VM, pool or mount behind for the next run to trip over.
struct HostCleanup {
    std::string root;
    HostCleanup() {
        for (const auto& item : sweepLeftovers(std::string(kDaemonDirPrefix))) {
            MESSAGE("removed a leftover of an earlier run: " << item);
        }
    }
    ~HostCleanup() {
        if (!root.empty()) {
            sweepLeftovers(root);
            std::error_code ignored;
            fs::remove_all(root, ignored);
        }
    }
    HostCleanup(const HostCleanup&) = delete;
    HostCleanup& operator=(const HostCleanup&) = delete;
};

/// libvirt's NAT network must be up for a VM to boot: start it, or fail saying why.
inline void requireDefaultNetwork() {
    static const std::regex kActive(R"(\nActive:\s+yes\b)");
    if (std::regex_search("\n" + virsh({"net-info", "default"}), kActive)) {
        return;
    }
    auto started = drivers::runProcess({"virsh", "-c", "qemu:///system", "net-start", "default"},
                                       std::chrono::seconds(60));
    REQUIRE_MESSAGE((started.ok() && started->exitCode == 0),
                    "libvirt's default network cannot start (is dnsmasq-base installed?): "
                        << (started.ok() ? started->output : started.error().message));
}

}  // namespace gpuhost::test::e2e

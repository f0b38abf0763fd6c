#pragma once

// Shared by the e2e tests: the dev image, virsh and the guest agent.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "json_mapping.hpp"
#include "process/process.hpp"

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

/// Removes the daemon's storage pool when the test ends, however it ends.
struct PoolCleanup {
    std::string pool;
    ~PoolCleanup() {
        virsh({"pool-destroy", pool});
        virsh({"pool-undefine", pool});
    }
};

}  // namespace gpuhost::test::e2e

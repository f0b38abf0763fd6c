// The keys that lay out the packaged host (issue 12): the pool, console logs and filesystem
// mounts outside the unit's StateDirectory, and the unmount helper's socket. The shipped
// template itself must parse once a token is in, and must be refused without one.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "config.hpp"
#include "unit/config_helpers.hpp"

using namespace gpuhost::agent;

namespace {

using gpuhost::test::kAuth;

std::string errorOf(const std::string& yaml) {
    return gpuhost::test::configErrorOf(yaml);
}

std::string shippedTemplate() {
    std::ifstream in(std::string(GPUHOST_SOURCE_DIR) + "/systemd/gpuhostd.yaml");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("layout keys: defaults stay under state_dir, so dev and test configs are unchanged") {
    auto config = parseConfig("state_dir: /srv/gh\n" + kAuth, "/etc/gpuhost");
    CHECK(config.poolPath.empty());       // main.cpp: state_dir/pool (pools/<host> with hosts)
    CHECK(config.consoleLogDir.empty());  // main.cpp: state_dir/console
    CHECK(config.filesystemsRoot == "/srv/gh/filesystems");
    CHECK(config.unmountHelper.empty());  // umount2 in-process
}

TEST_CASE("layout keys: absolute folders for libvirt, the helper's socket") {
    auto config = parseConfig("state_dir: /var/lib/gpuhost/agent\n" + kAuth + R"(
libvirt:
  pool_path: /var/lib/gpuhost/pool/
  console_log_dir: /var/lib/gpuhost/console
filesystems:
  root: /var/lib/gpuhost/filesystems/
  unmount_helper: /run/gpuhost/unmount.sock
)",
                              "/etc/gpuhost");
    CHECK(config.poolPath == "/var/lib/gpuhost/pool");  // no trailing separator
    CHECK(config.consoleLogDir == "/var/lib/gpuhost/console");
    // No trailing separator either: the helper client compares a mount's parent with it.
    CHECK(config.filesystemsRoot == "/var/lib/gpuhost/filesystems");
    CHECK(config.unmountHelper == "/run/gpuhost/unmount.sock");
}

TEST_CASE("layout keys: what libvirtd resolves must be absolute, and the helper serves one host") {
    CHECK(errorOf("state_dir: /x\n" + kAuth + "libvirt:\n  pool_path: pool\n") ==
          "libvirt.pool_path: must be an absolute path");
    CHECK(errorOf("state_dir: /x\n" + kAuth + "libvirt:\n  console_log_dir: ../console\n") ==
          "libvirt.console_log_dir: must be an absolute path");
    CHECK(errorOf("state_dir: /x\n" + kAuth + R"(
filesystems:
  unmount_helper: /run/gpuhost/unmount.sock
hosts:
  - {name: a, uri: "qemu:///system"}
  - {name: b, uri: "qemu+ssh://root@b/system"}
)")
              .rfind("filesystems.unmount_helper:", 0) == 0);
}

TEST_CASE("the packaged config template: refused until a token is set, then the packaged layout") {
    std::string text = shippedTemplate();
    REQUIRE(text.find("  tokens: []\n") != std::string::npos);
    CHECK(errorOf(text) == "auth.tokens: must be a non-empty list");
    std::string withToken = text;
    withToken.replace(
        withToken.find("  tokens: []\n"), 13,
        "  tokens:\n    - {name: op, sha256: " + std::string(64, 'b') + ", projects: [\"*\"]}\n");
    auto config = parseConfig(withToken, "/etc/gpuhost");
    CHECK(config.stateDir == "/var/lib/gpuhost/agent");
    CHECK(config.poolPath == "/var/lib/gpuhost/pool");
    CHECK(config.consoleLogDir == "/var/lib/gpuhost/console");
    // No trailing separator either: the helper client compares a mount's parent with it.
    CHECK(config.filesystemsRoot == "/var/lib/gpuhost/filesystems");
    CHECK(config.unmountHelper == "/run/gpuhost/unmount.sock");
    CHECK(config.listenHost == "127.0.0.1");
}

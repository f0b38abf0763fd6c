#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bootstrap.hpp"
#include "model/ssh_key.hpp"
#include "munge_key.hpp"
#include "node_config.hpp"
#include "slurm_conf.hpp"
#include "support/golden.hpp"
#include "unit/hostile_strings.hpp"

using namespace gpuhost;
using slurm::ClusterSpec;
using slurm::NodeUser;

namespace {

const std::string kEd25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJJoULgdfKfyqWkDw9EMQCiIzAiyMMVaQeNW2yvIdQ9u";
const std::string kEcdsa256 =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNp/4DBzx+GqcDNMY7se4aEzhEG0dVVCav87/aaeqegF3/"
    "m96XGgxzs7RwCG5pNr2Rh+ZEYo7ppSHVYMZ7ec3U8=";

// A fixed key, so the golden files hold no secret: 0x00 0x01 ... 0xff, four times.
std::string fixedMungeKey() {
    std::string key(slurm::kMungeKeyBytes, '\0');
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<char>(i % 256);
    }
    return key;
}

std::vector<NodeUser> twoUsers() {
    return {{"alice", 20000, {kEd25519 + " alice@laptop"}, true}, {"bob", 20001, {kEcdsa256, kEd25519}, false}};
}

ClusterSpec mixedCluster() {
    ClusterSpec spec;
    spec.name = "train";
    spec.controllerHostname = "train-ctl";
    spec.controllerAddress = "192.168.122.10";
    spec.slurmVersion = "22.05.8";
    spec.pools = {{"cpu", 2, 2, 768, 0, "", {"cpu"}}, {"h100", 4, 208, 2048 * 1024, 8, "h100", {"gpu"}}};
    spec.defaultPartition = "gpu";
    spec.maxNodes = 16;
    return spec;
}

cloudinit::Part required(const model::Result<cloudinit::Part>& part) {
    REQUIRE_MESSAGE(part.ok(), part.error().field << ": " << part.error().message);
    return *part;
}

std::string decodeBase64(const std::string& text) {
    std::string out(text.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    REQUIRE(n >= 0);
    out.resize(static_cast<std::size_t>(n) - (text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0));
    return out;
}

YAML::Node fileAt(const YAML::Node& doc, const std::string& path) {
    for (const auto& file : doc["write_files"]) {
        if (file["path"].as<std::string>() == path) {
            return file;
        }
    }
    FAIL("no write_files entry for " << path);
    return {};
}

std::vector<std::vector<std::string>> runcmd(const YAML::Node& doc) {
    return doc["runcmd"].as<std::vector<std::vector<std::string>>>();
}

// The part read back as cloud-init would: the munge key and users every role shares.
YAML::Node loadCommon(const cloudinit::Part& part) {
    CHECK(part.contentType == "text/cloud-config");
    REQUIRE(part.content.starts_with("#cloud-config\n"));
    auto doc = YAML::Load(part.content);
    auto key = fileAt(doc, "/etc/munge/munge.key");
    CHECK(key["encoding"].as<std::string>() == "b64");
    CHECK(key["owner"].as<std::string>() == "munge:munge");
    CHECK(key["permissions"].as<std::string>() == "0400");
    CHECK_FALSE(key["defer"].IsDefined());  // the image has munge: written early
    CHECK(decodeBase64(key["content"].as<std::string>()) == fixedMungeKey());
    auto users = doc["users"];
    REQUIRE(users.size() == 3);
    CHECK(users[0].as<std::string>() == "default");
    CHECK(users[1]["name"].as<std::string>() == "alice");
    CHECK(users[1]["uid"].as<unsigned>() == 20000);
    CHECK(users[1]["lock_passwd"].as<bool>());
    CHECK(users[1]["gecos"].as<std::string>() == std::string(slurm::kUserGecos));
    CHECK_FALSE(users[1]["sudo"].IsDefined());  // a sudoers file of our own, removable later
    CHECK(fileAt(doc, "/etc/sudoers.d/gpuhost-alice")["content"].as<std::string>() == slurm::sudoersRule("alice"));
    CHECK(fileAt(doc, "/etc/sudoers.d/gpuhost-alice")["permissions"].as<std::string>() == "0440");
    CHECK(users[1]["ssh_authorized_keys"][0].as<std::string>() == kEd25519 + " alice@laptop");
    CHECK_FALSE(users[2]["sudo"].IsDefined());
    CHECK(users[2]["ssh_authorized_keys"].size() == 2);
    CHECK_FALSE(doc["packages"].IsDefined());
    return doc;
}

}  // namespace

TEST_CASE("slurm bootstrap: the controller's part holds the key, gres.conf, cgroup.conf and users") {
    auto spec = mixedCluster();
    spec.controllerAddress.clear();  // not known when the controller's seed is made
    auto part = required(slurm::controllerPart(spec, {}, fixedMungeKey(), twoUsers()));
    CHECK(part.filename == "gpuhost-slurm-controller.cfg");
    CHECK(part.content == test::golden("slurm/bootstrap/controller.cfg", part.content));
    auto doc = loadCommon(part);
    auto gres = fileAt(doc, "/etc/slurm/gres.conf");
    CHECK(gres["content"].as<std::string>() == *slurm::gresConf(mixedCluster()));
    CHECK(gres["permissions"].as<std::string>() == "0644");
    CHECK(gres["owner"].as<std::string>() == "root:root");
    CHECK(fileAt(doc, "/etc/slurm/cgroup.conf")["content"].as<std::string>() == slurm::cgroupConf());
    CHECK(doc["write_files"].size() == 4);  // gres, cgroup, sudoers, key: no slurm.conf, the agent writes it
    CHECK(runcmd(doc) == std::vector<std::vector<std::string>>{{"systemctl", "restart", "munge"}});
}

TEST_CASE("slurm bootstrap: a GPU node's part holds the slurmd drop-in and enables slurmd") {
    auto spec = mixedCluster();
    auto part = required(slurm::nodePart(spec, {}, "h100", 3, fixedMungeKey(), twoUsers()));
    CHECK(part.filename == "gpuhost-slurm-node.cfg");
    CHECK(part.content == test::golden("slurm/bootstrap/node-h100-3.cfg", part.content));
    auto doc = loadCommon(part);
    auto dropIn = fileAt(doc, "/etc/systemd/system/slurmd.service.d/gpuhost.conf");
    CHECK(dropIn["content"].as<std::string>() == *slurm::slurmdDropIn(spec, {}, "h100", 3));
    CHECK(dropIn["permissions"].as<std::string>() == "0644");
    CHECK(runcmd(doc) == std::vector<std::vector<std::string>>{{"systemctl", "daemon-reload"},
                                                               {"systemctl", "restart", "munge"},
                                                               {"systemctl", "enable", "slurmd"},
                                                               {"systemctl", "restart", "slurmd"}});
    // A node needs the controller's address, and a pool and index the spec has.
    spec.controllerAddress.clear();
    CHECK(slurm::nodePart(spec, {}, "h100", 3, fixedMungeKey(), {}).error().field == "controllerAddress");
    CHECK_FALSE(slurm::nodePart(mixedCluster(), {}, "nosuch", 0, fixedMungeKey(), {}).ok());
    CHECK_FALSE(slurm::nodePart(mixedCluster(), {}, "h100", 16, fixedMungeKey(), {}).ok());
}

TEST_CASE("slurm bootstrap: a login node's part holds slurm.conf") {
    auto spec = mixedCluster();
    spec.loginHosts = {"train-login-0"};
    auto part = required(slurm::loginPart(spec, {}, fixedMungeKey(), twoUsers()));
    CHECK(part.filename == "gpuhost-slurm-login.cfg");
    CHECK(part.content == test::golden("slurm/bootstrap/login.cfg", part.content));
    auto doc = loadCommon(part);
    auto conf = fileAt(doc, "/etc/slurm/slurm.conf");
    CHECK(conf["content"].as<std::string>() == *slurm::slurmConf(spec));
    CHECK(conf["owner"].as<std::string>() == "root:root");
    CHECK(runcmd(doc) == std::vector<std::vector<std::string>>{{"systemctl", "restart", "munge"}});
}

TEST_CASE("slurm bootstrap: packages only when asked, the role's defaults unless named") {
    auto spec = mixedCluster();
    slurm::BootstrapOptions options;
    options.installPackages = true;
    auto packagesOf = [](const model::Result<cloudinit::Part>& part) {
        REQUIRE(part.ok());
        return YAML::Load(part->content)["packages"].as<std::vector<std::string>>();
    };
    CHECK(packagesOf(slurm::controllerPart(spec, {}, fixedMungeKey(), {}, options)) ==
          std::vector<std::string>{"slurmctld", "slurm-client", "munge"});
    CHECK(packagesOf(slurm::nodePart(spec, {}, "cpu", 0, fixedMungeKey(), {}, options)) ==
          std::vector<std::string>{"slurmd", "munge"});
    CHECK(packagesOf(slurm::loginPart(spec, {}, fixedMungeKey(), {}, options)) ==
          std::vector<std::string>{"slurm-client", "munge"});
    // Installed packages bring the munge user late: the key waits for them (deferred).
    auto installing = YAML::Load(slurm::nodePart(spec, {}, "cpu", 0, fixedMungeKey(), {}, options)->content);
    bool deferred = false;
    for (const auto& file : installing["write_files"]) {
        deferred = deferred || (file["path"].as<std::string>() == "/etc/munge/munge.key" && file["defer"].as<bool>());
    }
    CHECK(deferred);
    options.packages = {"slurmd", "munge", "libpam-slurm-adopt"};
    CHECK(packagesOf(slurm::nodePart(spec, {}, "cpu", 0, fixedMungeKey(), {}, options)) == options.packages);
    options.packages = {"slurmd", "munge\nruncmd: [reboot]"};
    CHECK(slurm::nodePart(spec, {}, "cpu", 0, fixedMungeKey(), {}, options).error().field == "packages[1]");
}

TEST_CASE("slurm bootstrap: hostile usernames, keys, uids and munge keys are refused") {
    auto spec = mixedCluster();
    auto refused = [&](const std::vector<NodeUser>& users, const std::string& key = fixedMungeKey()) {
        auto controller = slurm::controllerPart(spec, {}, key, users);
        auto node = slurm::nodePart(spec, {}, "cpu", 0, key, users);
        auto login = slurm::loginPart(spec, {}, key, users);
        CHECK_FALSE(controller.ok());
        CHECK_FALSE(node.ok());
        CHECK_FALSE(login.ok());
        return controller.ok() ? std::string() : controller.error().field;
    };
    auto hostile = test::loadHostileStrings();
    for (const char* extra : {"root", "slurm", "munge", "Alice", "a b", "a\nb", "-rf", "", "default"}) {
        hostile.push_back({0, extra});
    }
    for (const auto& bad : hostile) {
        CAPTURE(bad.line);
        CAPTURE(bad.bytes);
        CHECK(refused({{bad.bytes, 20000, {}, false}}) == "users[0].name");
        auto users = twoUsers();
        users[1].sshKeys[1] = kEd25519 + " " + bad.bytes;
        if (!model::parseSshPublicKey(users[1].sshKeys[1], "k").ok()) {
            CHECK(refused(users) == "users[1].sshKeys[1]");
        }
        users[1].sshKeys[1] = bad.bytes;
        CHECK(refused(users) == "users[1].sshKeys[1]");
    }
    for (const auto& key : std::vector<std::string>{kEd25519 + "\nruncmd: [reboot]", "command=\"reboot\" " + kEd25519,
                                                    "ssh-dss AAAAB3NzaC1kc3M=", kEd25519 + " a\x01z"}) {
        CAPTURE(key);
        CHECK(refused({{"carol", 20002, {key}, false}}) == "users[0].sshKeys[0]");
    }
    CHECK(refused({{"carol", 0, {}, true}}) == "users[0].uid");
    CHECK(refused({{"carol", 999, {}, true}}) == "users[0].uid");
    CHECK(refused({{"carol", 65534, {}, true}}) == "users[0].uid");
    CHECK(refused({{"carol", 20000, {}, false}, {"carol", 20001, {}, false}}) == "users[1]");
    CHECK(refused({{"carol", 20000, {}, false}, {"dave", 20000, {}, false}}) == "users[1]");
    CHECK(refused({}, "") == "mungeKey");
    CHECK(refused({}, fixedMungeKey() + "x") == "mungeKey");
    // And the cluster's own names, as for every Slurm generator.
    spec.pools[0].name = "cpu\nruncmd: [reboot]";
    CHECK_FALSE(slurm::controllerPart(spec, {}, fixedMungeKey(), {}).ok());
    CHECK_FALSE(slurm::loginPart(spec, {}, fixedMungeKey(), {}).ok());
}

// Every generator's goldens (Slurm's and Kubernetes' parts), in one place.
TEST_CASE("slurm bootstrap: every golden cloud-config, Slurm's and Kubernetes', passes cloud-init's schema") {
    REQUIRE_MESSAGE(std::system("command -v cloud-init >/dev/null") == 0,
                    "cloud-init is required for `cloud-init schema`: ./test.sh installs it");
    int checked = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(test::goldenPath(""))) {
        std::string head;
        std::getline(std::ifstream(entry.path()), head);
        if (!entry.is_regular_file() || head != "#cloud-config") {
            continue;
        }
        CAPTURE(entry.path());
        auto command = "cloud-init schema --config-file '" + entry.path().string() + "' >/dev/null 2>&1";
        CHECK(std::system(command.c_str()) == 0);
        ++checked;
    }
    CHECK(checked >= 10);
}

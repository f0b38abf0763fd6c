#include "bootstrap.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "model/posix_user.hpp"
#include "model/ssh_key.hpp"
#include "munge_key.hpp"
#include "node_config.hpp"
#include "slurm_conf.hpp"

namespace gpuhost::slurm {

namespace {

using model::Error;
using model::Result;

// Debian's "normal" uid range: never a system account, never nobody (65534).
constexpr unsigned kMinUid = 1000;
constexpr unsigned kMaxUid = 59999;
constexpr std::size_t kMaxPackageName = 100;

struct File {
    std::string path;
    std::string content;
    std::string owner = "root:root";
    std::string permissions = "0644";
};

/// What one machine's part holds; rendered by one emitter so no text is ever spliced into YAML.
struct Document {
    std::vector<std::string> packages;
    std::string mungeKeyBase64;
    std::vector<File> files;
    std::vector<NodeUser> users;
    std::vector<std::vector<std::string>> runcmd;
};

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

Result<std::string> encodedMungeKey(std::string_view key) {
    if (key.size() != kMungeKeyBytes) {
        return Error::invalid("mungeKey", "must be " + std::to_string(kMungeKeyBytes) + " bytes");
    }
    return base64(key);
}

// The users again, each name and key re-checked; keys come back as their normalized line.
Result<std::vector<NodeUser>> checkedUsers(const std::vector<NodeUser>& users) {
    std::vector<NodeUser> checked;
    std::set<std::string> names;
    std::set<unsigned> uids;
    for (std::size_t i = 0; i < users.size(); ++i) {
        const auto& user = users[i];
        auto field = "users[" + std::to_string(i) + "]";
        if (auto ok = model::validatePosixUsername(user.name, field + ".name"); !ok) {
            return ok.error();
        }
        if (user.name == "default") {  // cloud-init's word for the image's own user
            return Error::invalid(field + ".name", "is reserved by cloud-init");
        }
        if (user.uid < kMinUid || user.uid > kMaxUid) {
            return Error::invalid(field + ".uid", "must be " + std::to_string(kMinUid) + "-" + std::to_string(kMaxUid));
        }
        if (!names.insert(user.name).second || !uids.insert(user.uid).second) {
            return Error::invalid(field, "has the name or uid of another user");
        }
        auto keys = model::parseSshPublicKeys(user.sshKeys, field + ".sshKeys");
        if (!keys) {
            return keys.error();
        }
        NodeUser clean{user.name, user.uid, {}, user.sudo};
        for (const auto& key : *keys) {
            clean.sshKeys.push_back(key.line());
        }
        checked.push_back(std::move(clean));
    }
    return checked;
}

// Debian package names: [a-z0-9][a-z0-9+.-]+ (Debian Policy 5.6.1).
bool isPackageName(std::string_view name) {
    if (name.size() < 2 || name.size() > kMaxPackageName) {
        return false;
    }
    auto lowerOrDigit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lowerOrDigit(name.front())) {
        return false;
    }
    for (char c : name) {
        if (!lowerOrDigit(c) && c != '+' && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

Result<std::vector<std::string>> checkedPackages(const BootstrapOptions& options, Role role) {
    if (!options.installPackages) {
        return std::vector<std::string>{};
    }
    auto packages = options.packages.empty() ? defaultPackages(role) : options.packages;
    for (std::size_t i = 0; i < packages.size(); ++i) {
        if (!isPackageName(packages[i])) {
            return Error::invalid("packages[" + std::to_string(i) + "]", "must be a Debian package name");
        }
    }
    return packages;
}

// What every role's part starts from: packages, the munge key and the users, all checked.
Result<Document> baseDocument(std::string_view mungeKey, const std::vector<NodeUser>& users,
                              const BootstrapOptions& options, Role role) {
    auto key = encodedMungeKey(mungeKey);
    if (!key) {
        return key.error();
    }
    auto checked = checkedUsers(users);
    if (!checked) {
        return checked.error();
    }
    auto packages = checkedPackages(options, role);
    if (!packages) {
        return packages.error();
    }
    return Document{std::move(*packages), std::move(*key), {}, std::move(*checked), {}};
}

void emitUsers(YAML::Emitter& yaml, const std::vector<NodeUser>& users) {
    // "default" first: a users list without it would drop the image's own login user.
    yaml << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << "default";
    for (const auto& user : users) {
        yaml << YAML::BeginMap;
        yaml << YAML::Key << "name" << YAML::Value << user.name;
        yaml << YAML::Key << "uid" << YAML::Value << user.uid;
        yaml << YAML::Key << "gecos" << YAML::Value << std::string(kUserGecos);
        yaml << YAML::Key << "shell" << YAML::Value << "/bin/bash";
        yaml << YAML::Key << "lock_passwd" << YAML::Value << true;
        yaml << YAML::Key << "ssh_authorized_keys" << YAML::Value << YAML::BeginSeq;
        for (const auto& key : user.sshKeys) {
            yaml << YAML::DoubleQuoted << key;
        }
        yaml << YAML::EndSeq;
        yaml << YAML::EndMap;
    }
    yaml << YAML::EndSeq;
}

void emitFiles(YAML::Emitter& yaml, const Document& doc) {
    yaml << YAML::Key << "write_files" << YAML::Value << YAML::BeginSeq;
    auto files = doc.files;
    // Sudo as the agent applies it later (a file of our own, not cloud-init's shared one), so
    // a user's sudo can be taken away again on every node.
    for (const auto& user : doc.users) {
        if (user.sudo) {
            files.push_back({sudoersPath(user.name), sudoersRule(user.name), "root:root", "0440"});
        }
    }
    for (const auto& file : files) {
        yaml << YAML::BeginMap;
        yaml << YAML::Key << "path" << YAML::Value << file.path;
        yaml << YAML::Key << "owner" << YAML::Value << file.owner;
        yaml << YAML::Key << "permissions" << YAML::Value << YAML::SingleQuoted << file.permissions;
        yaml << YAML::Key << "content" << YAML::Value << YAML::Literal << file.content;
        yaml << YAML::EndMap;
    }
    // With packages to install, deferred (cloud-init >= 21.4): written in the final stage,
    // after packages, so the munge user exists; before runcmd, which restarts munged with it.
    // An image with Slurm baked in has the user: written early (init stage), so the agent
    // can start slurmctld without waiting for the rest of cloud-init.
    yaml << YAML::BeginMap;
    yaml << YAML::Key << "path" << YAML::Value << "/etc/munge/munge.key";
    yaml << YAML::Key << "owner" << YAML::Value << "munge:munge";
    yaml << YAML::Key << "permissions" << YAML::Value << YAML::SingleQuoted << "0400";
    yaml << YAML::Key << "encoding" << YAML::Value << "b64";
    yaml << YAML::Key << "content" << YAML::Value << doc.mungeKeyBase64;
    if (!doc.packages.empty()) {
        yaml << YAML::Key << "defer" << YAML::Value << true;
    }
    yaml << YAML::EndMap;
    yaml << YAML::EndSeq;
}

cloudinit::Part render(const Document& doc, const std::string& filename, const char* comment) {
    YAML::Emitter yaml;
    yaml << YAML::Comment(comment);
    yaml << YAML::BeginMap;
    if (!doc.packages.empty()) {
        yaml << YAML::Key << "packages" << YAML::Value << YAML::BeginSeq;
        for (const auto& package : doc.packages) {
            yaml << package;
        }
        yaml << YAML::EndSeq;
    }
    emitUsers(yaml, doc.users);
    emitFiles(yaml, doc);
    yaml << YAML::Key << "runcmd" << YAML::Value << YAML::BeginSeq;
    for (const auto& argv : doc.runcmd) {
        yaml << YAML::Flow << YAML::BeginSeq;
        for (const auto& arg : argv) {
            yaml << arg;
        }
        yaml << YAML::EndSeq;
    }
    yaml << YAML::EndSeq << YAML::EndMap;
    return {"text/cloud-config", filename, "#cloud-config\n" + std::string(yaml.c_str()) + "\n"};
}

const std::vector<std::string> kRestartMunge{"systemctl", "restart", "munge"};

}  // namespace

std::vector<std::string> defaultPackages(Role role) {
    switch (role) {
        case Role::Controller:
            return {"slurmctld", "slurm-client", "munge"};
        case Role::Node:
            return {"slurmd", "munge"};
        case Role::Login:
            return {"slurm-client", "munge"};
    }
    return {};
}

Result<cloudinit::Part> controllerPart(const ClusterSpec& spec, const Layout& layout, std::string_view mungeKey,
                                       const std::vector<NodeUser>& users, const BootstrapOptions& options) {
    // The address is not known yet and gres.conf does not hold it: the hostname stands in
    // for it so the rest of the spec is checked as usual.
    auto checkedSpec = spec;
    if (checkedSpec.controllerAddress.empty()) {
        checkedSpec.controllerAddress = checkedSpec.controllerHostname;
    }
    if (auto ok = validate(checkedSpec, layout); !ok) {
        return ok.error();
    }
    auto gres = gresConf(checkedSpec);
    if (!gres) {
        return gres.error();
    }
    auto doc = baseDocument(mungeKey, users, options, Role::Controller);
    if (!doc) {
        return doc.error();
    }
    doc->files = {{"/etc/slurm/gres.conf", *gres}, {"/etc/slurm/cgroup.conf", cgroupConf(layout)}};
    doc->runcmd = {kRestartMunge};
    return render(*doc, "gpuhost-slurm-controller.cfg", "gpuhost: Slurm controller (slurm.conf and slurmctld follow from the agent)");
}

Result<cloudinit::Part> nodePart(const ClusterSpec& spec, const Layout& layout, const std::string& poolName,
                                 unsigned index, std::string_view mungeKey, const std::vector<NodeUser>& users,
                                 const BootstrapOptions& options) {
    auto dropIn = slurmdDropIn(spec, layout, poolName, index);
    if (!dropIn) {
        return dropIn.error();
    }
    auto doc = baseDocument(mungeKey, users, options, Role::Node);
    if (!doc) {
        return doc.error();
    }
    doc->files = {{"/etc/systemd/system/slurmd.service.d/gpuhost.conf", *dropIn}};
    // restart rather than enable --now alone: a slurmd that a package install started
    // with the old key must pick up the new one too.
    doc->runcmd = {{"systemctl", "daemon-reload"},
                   kRestartMunge,
                   {"systemctl", "enable", "slurmd"},
                   {"systemctl", "restart", "slurmd"}};
    return render(*doc, "gpuhost-slurm-node.cfg", "gpuhost: Slurm node (configless slurmd)");
}

Result<cloudinit::Part> loginPart(const ClusterSpec& spec, const Layout& layout, std::string_view mungeKey,
                                  const std::vector<NodeUser>& users, const BootstrapOptions& options) {
    auto conf = slurmConf(spec, layout);
    if (!conf) {
        return conf.error();
    }
    auto doc = baseDocument(mungeKey, users, options, Role::Login);
    if (!doc) {
        return doc.error();
    }
    doc->files = {{"/etc/slurm/slurm.conf", *conf}};
    doc->runcmd = {kRestartMunge};
    return render(*doc, "gpuhost-slurm-login.cfg", "gpuhost: Slurm login node");
}

std::string sudoersPath(const std::string& username) {
    return "/etc/sudoers.d/gpuhost-" + username;
}

std::string sudoersRule(const std::string& username) {
    return username + " ALL=(ALL:ALL) NOPASSWD: ALL\n";
}

}  // namespace gpuhost::slurm

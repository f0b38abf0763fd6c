#include "node_bootstrap.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace gpuhost::kubernetes {

namespace {

using model::Error;
using model::Result;

constexpr std::size_t kMaxPemText = 64 * 1024;
constexpr std::size_t kMaxAptSource = 1024;
constexpr std::size_t kMaxManifest = 2048;
constexpr std::size_t kMaxRevision = 32;

constexpr std::string_view kStepRunnerPath = "/usr/local/sbin/gpuhost-kubernetes-step";
// Every value reaches this script as an argument, never as shell text. umask 077: kubeadm
// init prints the bootstrap token into the log.
constexpr std::string_view kStepRunner = R"(#!/bin/sh
# gpuhost: one step of a Kubernetes node's bootstrap: STEP FAILED LOG COMMAND [ARG...]
# Skipped once FAILED exists; the command's output goes to LOG; when it fails, FAILED is
# written so that every later step (the done marker among them) is skipped too.
umask 077
failed=$1
log=$2
shift 2
[ ! -e "$failed" ] || exit 1
printf '+ %s\n' "$*" >>"$log"
"$@" >>"$log" 2>&1 && exit 0
status=$?
printf 'gpuhost: step failed (exit status %s): %s\n' "$status" "$*" >>"$log"
touch "$failed"
exit 1
)";

constexpr std::string_view kModules = "overlay\nbr_netfilter\n";
constexpr std::string_view kSysctls =
    "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = "
    "1\n";
// Debian's containerd 1.6 defaults to cgroupfs; the kubelet is configured for systemd.
constexpr std::string_view kContainerdConfig = R"(version = 2

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
)";
constexpr std::string_view kAdminKubeconfig = "/etc/kubernetes/admin.conf";

struct File {
    std::string path;
    std::string content;
    std::string permissions = "0644";
};

/// What one machine's part holds; rendered by one emitter so no text is ever spliced into YAML.
struct Document {
    std::string aptSource;  // empty: no apt section
    std::string aptKey;
    std::vector<std::pair<std::string, std::string>> packages;  // name, exact version ("": any)
    std::vector<File> files;
    std::vector<std::vector<std::string>> runcmd;
};

bool isPrintableAscii(char c) {
    return c >= 0x20 && c <= 0x7e;
}

// Text a literal block carries unchanged: printable ASCII lines, ending in exactly one newline.
Result<std::string> checkedArmoredText(std::string_view text, std::string_view begin,
                                       const std::string& field) {
    bool ok = text.starts_with(begin) && text.size() <= kMaxPemText &&
              std::all_of(text.begin(), text.end(), [](char c) { return isPrintableAscii(c) || c == '\n'; });
    if (!ok) {
        return Error::invalid(
            field, "must be PEM text (printable ASCII starting with \"" + std::string(begin) + "\")");
    }
    std::string normalized(text.substr(0, text.find_last_not_of('\n') + 1));
    return normalized + "\n";
}

// A URL or an absolute path, handed to kubectl as --filename=<manifest>.
Result<void> checkManifest(std::string_view manifest, const std::string& field) {
    bool ok =
        (manifest.starts_with("https://") || manifest.starts_with("http://") || manifest.starts_with("/")) &&
        manifest.size() <= kMaxManifest && manifest.find("..") == std::string_view::npos &&
        std::all_of(manifest.begin(), manifest.end(), [](char c) { return isPrintableAscii(c) && c != ' '; });
    if (!ok) {
        return Error::invalid(field, "must be an http(s) URL or an absolute path without spaces or \"..\"");
    }
    return {};
}

std::vector<std::string> step(StepFiles files, std::vector<std::string> argv) {
    argv.insert(argv.begin(),
                {std::string(kStepRunnerPath), std::string(files.failed), std::string(files.log)});
    return argv;
}

// The apt source and packages when asked, and the host preparation every node needs, up to
// the point where kubeadm takes over.
Result<Document> preparedHost(const KubernetesVersion& version, const BootstrapOptions& options,
                              bool controlPlane, StepFiles files) {
    Document doc;
    doc.files = {{std::string(kStepRunnerPath), std::string(kStepRunner), "0755"},
                 {"/etc/modules-load.d/gpuhost-kubernetes.conf", std::string(kModules)},
                 {"/etc/sysctl.d/90-gpuhost-kubernetes.conf", std::string(kSysctls)}};
    doc.runcmd = {{"mkdir", "-p", "/var/lib/gpuhost"}};
    if (options.installPackages) {
        doc.aptSource = options.aptSource.empty() ? defaultAptSource(version) : options.aptSource;
        if (auto ok = checkAptSource(doc.aptSource, "aptSource"); !ok) {
            return ok.error();
        }
        if (doc.aptSource.find("$KEY_FILE") != std::string::npos || !options.aptKey.empty()) {
            auto key = checkedArmoredText(options.aptKey, "-----BEGIN PGP PUBLIC KEY BLOCK-----", "aptKey");
            if (!key) {
                return key.error();
            }
            doc.aptKey = std::move(*key);
        }
        if (auto ok = checkPackageRevision(options.packageRevision, "packageRevision"); !ok) {
            return ok.error();
        }
        std::vector<std::string> pinned{"kubeadm", "kubelet"};
        if (controlPlane) {
            pinned.push_back("kubectl");
        }
        doc.packages.emplace_back("containerd", "");
        for (const auto& name : pinned) {
            doc.packages.emplace_back(name, version.text() + "-" + options.packageRevision);
        }
        pinned.insert(pinned.begin(), {"apt-mark", "hold"});
        doc.runcmd.push_back(step(files, pinned));
        doc.files.push_back({"/etc/containerd/config.toml", std::string(kContainerdConfig)});
    }
    doc.runcmd.push_back(step(files, {"swapoff", "-a"}));
    doc.runcmd.push_back(step(files, {"modprobe", "overlay"}));
    doc.runcmd.push_back(step(files, {"modprobe", "br_netfilter"}));
    doc.runcmd.push_back(step(files, {"sysctl", "--system"}));
    if (options.installPackages) {
        doc.runcmd.push_back(step(files, {"systemctl", "restart", "containerd"}));
    }
    doc.runcmd.push_back(step(files, {"systemctl", "enable", "kubelet"}));
    return doc;
}

void emitApt(YAML::Emitter& yaml, const Document& doc) {
    yaml << YAML::Key << "apt" << YAML::Value << YAML::BeginMap;
    yaml << YAML::Key << "sources" << YAML::Value << YAML::BeginMap;
    yaml << YAML::Key << "kubernetes" << YAML::Value << YAML::BeginMap;
    yaml << YAML::Key << "source" << YAML::Value << YAML::DoubleQuoted << doc.aptSource;
    if (!doc.aptKey.empty()) {
        yaml << YAML::Key << "key" << YAML::Value << YAML::Literal << doc.aptKey;
    }
    yaml << YAML::EndMap << YAML::EndMap << YAML::EndMap;
    yaml << YAML::Key << "packages" << YAML::Value << YAML::BeginSeq;
    for (const auto& [name, version] : doc.packages) {
        if (version.empty()) {
            yaml << name;
        } else {
            yaml << YAML::Flow << YAML::BeginSeq << name << YAML::DoubleQuoted << version << YAML::EndSeq;
        }
    }
    yaml << YAML::EndSeq;
}

cloudinit::Part render(const Document& doc, const std::string& filename, const char* comment) {
    YAML::Emitter yaml;
    yaml << YAML::Comment(comment);
    yaml << YAML::BeginMap;
    if (!doc.aptSource.empty()) {
        emitApt(yaml, doc);
    }
    yaml << YAML::Key << "write_files" << YAML::Value << YAML::BeginSeq;
    for (const auto& file : doc.files) {
        yaml << YAML::BeginMap;
        yaml << YAML::Key << "path" << YAML::Value << file.path;
        yaml << YAML::Key << "owner" << YAML::Value << "root:root";
        yaml << YAML::Key << "permissions" << YAML::Value << YAML::SingleQuoted << file.permissions;
        yaml << YAML::Key << "content" << YAML::Value << YAML::Literal << file.content;
        yaml << YAML::EndMap;
    }
    yaml << YAML::EndSeq;
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

Result<std::vector<File>> pkiFiles(const ClusterPki& pki) {
    struct Entry {
        const char* field;
        const std::string* pem;
        const char* path;
        bool secret;
    };
    const Entry entries[] = {
        {"pki.ca.certPem", &pki.ca.certPem, "ca.crt", false},
        {"pki.ca.keyPem", &pki.ca.keyPem, "ca.key", true},
        {"pki.frontProxyCa.certPem", &pki.frontProxyCa.certPem, "front-proxy-ca.crt", false},
        {"pki.frontProxyCa.keyPem", &pki.frontProxyCa.keyPem, "front-proxy-ca.key", true},
        {"pki.etcdCa.certPem", &pki.etcdCa.certPem, "etcd/ca.crt", false},
        {"pki.etcdCa.keyPem", &pki.etcdCa.keyPem, "etcd/ca.key", true},
        {"pki.serviceAccountKeyPem", &pki.serviceAccountKeyPem, "sa.key", true},
        {"pki.serviceAccountPublicPem", &pki.serviceAccountPublicPem, "sa.pub", false},
    };
    std::vector<File> files;
    for (const auto& entry : entries) {
        auto text = checkedArmoredText(*entry.pem, "-----BEGIN ", entry.field);
        if (!text) {
            return text.error();
        }
        files.push_back({"/etc/kubernetes/pki/" + std::string(entry.path), std::move(*text),
                         entry.secret ? "0600" : "0644"});
    }
    return files;
}

std::vector<std::string> kubectlApply(const std::string& manifest) {
    return {"kubectl", "--kubeconfig", std::string(kAdminKubeconfig), "apply", "--filename=" + manifest};
}

}  // namespace

std::string defaultAptSource(const KubernetesVersion& version) {
    return "deb [signed-by=$KEY_FILE] https://pkgs.k8s.io/core:/stable:/v" + std::to_string(version.major) +
           "." + std::to_string(version.minor) + "/deb/ /";
}

Result<void> checkAptSource(std::string_view source, const std::string& field) {
    // cloud-init renders the line as a template: "$KEY_FILE" is the only variable it knows here.
    auto dollar = source.find('$');
    bool ok = source.starts_with("deb ") && source.size() <= kMaxAptSource &&
              std::all_of(source.begin(), source.end(), isPrintableAscii) &&
              (dollar == std::string_view::npos || (source.substr(dollar).starts_with("$KEY_FILE") &&
                                                    source.find('$', dollar + 1) == std::string_view::npos));
    if (!ok) {
        return Error::invalid(field,
                              "must be one printable \"deb ...\" line; \"$KEY_FILE\" is the only variable");
    }
    return {};
}

Result<void> checkPackageRevision(std::string_view revision, const std::string& field) {
    bool ok = !revision.empty() && revision.size() <= kMaxRevision && revision.front() >= '0' &&
              revision.front() <= '9' && std::all_of(revision.begin(), revision.end(), [](char c) {
                  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '+' || c == '~';
              });
    if (!ok) {
        return Error::invalid(field, "must be a Debian revision like 1.1");
    }
    return {};
}

Result<cloudinit::Part> controlPlanePart(const ControlPlaneConfig& config, const ClusterPki& pki,
                                         const BootstrapOptions& options) {
    auto kubeadmYaml = initConfiguration(config);
    if (!kubeadmYaml) {
        return kubeadmYaml.error();
    }
    auto certificates = pkiFiles(pki);
    if (!certificates) {
        return certificates.error();
    }
    for (const auto& [manifest, field] : {std::pair{&options.cniManifest, "cniManifest"},
                                          std::pair{&options.devicePluginManifest, "devicePluginManifest"}}) {
        if (!manifest->empty()) {
            if (auto ok = checkManifest(*manifest, field); !ok) {
                return ok.error();
            }
        }
    }
    auto doc = preparedHost(config.version, options, true, kInitSteps);
    if (!doc) {
        return doc.error();
    }
    doc->files.insert(doc->files.end(), certificates->begin(), certificates->end());
    doc->files.push_back({std::string(kInitConfigPath), std::move(*kubeadmYaml), "0600"});
    doc->runcmd.push_back(step(kInitSteps, {"kubeadm", "init", "--config", std::string(kInitConfigPath)}));
    for (const auto* manifest : {&options.cniManifest, &options.devicePluginManifest}) {
        if (!manifest->empty()) {
            doc->runcmd.push_back(step(kInitSteps, kubectlApply(*manifest)));
        }
    }
    doc->runcmd.push_back(step(kInitSteps, {"touch", std::string(kInitSteps.done)}));
    return render(*doc, "gpuhost-kubernetes-control-plane.cfg",
                  "gpuhost: Kubernetes control plane (kubeadm init)");
}

Result<cloudinit::Part> workerPart(const JoinConfig& config, bool gpu, const BootstrapOptions& options) {
    auto node = config;
    if (gpu) {
        node.nodeLabels[std::string(kGpuPresentLabel)] = "true";
        auto taint = gpuTaint();
        bool tainted =
            std::any_of(node.nodeTaints.begin(), node.nodeTaints.end(), [&](const Taint& existing) {
                return existing.key == taint.key && existing.effect == taint.effect;
            });
        if (!tainted) {
            node.nodeTaints.push_back(taint);
        }
    }
    auto kubeadmYaml = joinConfiguration(node);
    if (!kubeadmYaml) {
        return kubeadmYaml.error();
    }
    auto doc = preparedHost(config.version, options, false, kJoinSteps);
    if (!doc) {
        return doc.error();
    }
    doc->files.push_back({std::string(kJoinConfigPath), std::move(*kubeadmYaml), "0600"});
    doc->runcmd.push_back(step(kJoinSteps, {"kubeadm", "join", "--config", std::string(kJoinConfigPath)}));
    doc->runcmd.push_back(step(kJoinSteps, {"touch", std::string(kJoinSteps.done)}));
    return render(*doc, "gpuhost-kubernetes-worker.cfg", "gpuhost: Kubernetes worker (kubeadm join)");
}

}  // namespace gpuhost::kubernetes

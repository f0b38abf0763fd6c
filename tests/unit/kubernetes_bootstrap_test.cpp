#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "node_bootstrap.hpp"
#include "support/golden.hpp"
#include "support/kubeadm_field_check.hpp"
#include "support/temp_dir.hpp"
#include "unit/hostile_strings.hpp"

using namespace gpuhost;
using namespace std::chrono_literals;
using kubernetes::BootstrapOptions;
using kubernetes::KubernetesVersion;
using Argv = std::vector<std::string>;

namespace {

const std::string kToken = "abcdef.0123456789abcdef";
const std::string kHash = "sha256:" + std::string(64, 'b');
const std::string kRunner = "/usr/local/sbin/gpuhost-kubernetes-step";

std::string pem(const std::string& type, const std::string& body) {
    return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
}

// Placeholders, not keys: the generator carries PEM text without parsing it.
kubernetes::ClusterPki fakePki() {
    return {
        {pem("CERTIFICATE", "ZmFrZS1jYQ=="), pem("PRIVATE KEY", "ZmFrZS1jYS1rZXk=")},
        {pem("CERTIFICATE", "ZmFrZS1mcm9udC1wcm94eQ=="), pem("PRIVATE KEY", "ZmFrZS1mcm9udC1wcm94eS1rZXk=")},
        {pem("CERTIFICATE", "ZmFrZS1ldGNk"), pem("PRIVATE KEY", "ZmFrZS1ldGNkLWtleQ==")},
        pem("PRIVATE KEY", "ZmFrZS1zYQ=="),
        pem("PUBLIC KEY", "ZmFrZS1zYS1wdWI=")};
}

kubernetes::ControlPlaneConfig controlPlane(KubernetesVersion version) {
    return {version,
            "train",
            "train-cp-0",
            "10.0.0.5:6443",
            "10.244.0.0/16",
            "10.96.0.0/12",
            kToken,
            2h,
            {"10.0.0.5"},
            {},
            {}};
}

kubernetes::JoinConfig worker(KubernetesVersion version, const std::string& name) {
    return {version, name, "10.0.0.5:6443", kToken, {kHash}, {{"gpuhost.io/pool", "workers"}}, {}};
}

BootstrapOptions withManifests() {
    BootstrapOptions options;
    options.cniManifest = "https://github.com/flannel-io/flannel/releases/download/v0.26.1/kube-flannel.yml";
    options.devicePluginManifest = "/opt/gpuhost/nvidia-device-plugin.yml";
    return options;
}

BootstrapOptions withPackages() {
    BootstrapOptions options;
    options.installPackages = true;
    options.aptKey = pem("PGP PUBLIC KEY BLOCK", "\nmQINBGMHoXcBEADlaceholder");
    return options;
}

cloudinit::Part required(const model::Result<cloudinit::Part>& part) {
    REQUIRE_MESSAGE(part.ok(), part.error().message);
    return *part;
}

std::string fieldOf(const model::Result<cloudinit::Part>& part) {
    return part.ok() ? std::string("(accepted)") : part.error().field;
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

std::vector<Argv> runcmd(const YAML::Node& doc) {
    return doc["runcmd"].as<std::vector<Argv>>();
}

Argv step(const kubernetes::StepFiles& files, Argv argv) {
    argv.insert(argv.begin(), {kRunner, std::string(files.failed), std::string(files.log)});
    return argv;
}

// The part as cloud-init reads it, with what every node's part holds.
YAML::Node loadPart(const cloudinit::Part& part, const std::string& filename) {
    CHECK(part.contentType == "text/cloud-config");
    CHECK(part.filename == filename);
    REQUIRE(part.content.starts_with("#cloud-config\n"));
    auto doc = YAML::Load(part.content);
    CHECK(fileAt(doc, kRunner)["permissions"].as<std::string>() == "0755");
    CHECK(fileAt(doc, "/etc/modules-load.d/gpuhost-kubernetes.conf")["content"].as<std::string>() ==
          "overlay\nbr_netfilter\n");
    CHECK(fileAt(doc, "/etc/sysctl.d/90-gpuhost-kubernetes.conf")["content"].as<std::string>().find(
              "net.ipv4.ip_forward = 1\n") != std::string::npos);
    for (const auto& file : doc["write_files"]) {
        CHECK(file["owner"].as<std::string>() == "root:root");
    }
    return doc;
}

void checkKubeadmFile(const YAML::Node& file, const KubernetesVersion& version, std::size_t documents) {
    CHECK(file["permissions"].as<std::string>() == "0600");
    auto check = test::checkKubeadmFields(file["content"].as<std::string>(), version);
    CHECK(check.problems == std::vector<std::string>{});
    CHECK(check.kinds.size() == documents);
}

}  // namespace

TEST_CASE("kubernetes bootstrap: the control plane's part holds the PKI, kubeadm's config and kubeadm init") {
    auto config = controlPlane({1, 31, 2});
    auto part = required(kubernetes::controlPlanePart(config, fakePki(), withManifests()));
    CHECK(part.content == test::golden("kubernetes/bootstrap/control-plane-1.31.cfg", part.content));
    auto doc = loadPart(part, "gpuhost-kubernetes-control-plane.cfg");
    auto pki = fakePki();
    const std::vector<std::tuple<std::string, std::string, std::string>> expected{
        {"ca.crt", pki.ca.certPem, "0644"},
        {"ca.key", pki.ca.keyPem, "0600"},
        {"front-proxy-ca.crt", pki.frontProxyCa.certPem, "0644"},
        {"front-proxy-ca.key", pki.frontProxyCa.keyPem, "0600"},
        {"etcd/ca.crt", pki.etcdCa.certPem, "0644"},
        {"etcd/ca.key", pki.etcdCa.keyPem, "0600"},
        {"sa.key", pki.serviceAccountKeyPem, "0600"},
        {"sa.pub", pki.serviceAccountPublicPem, "0644"}};
    for (const auto& [name, content, permissions] : expected) {
        CAPTURE(name);
        auto file = fileAt(doc, "/etc/kubernetes/pki/" + name);
        CHECK(file["content"].as<std::string>() == content);
        CHECK(file["permissions"].as<std::string>() == permissions);
    }
    auto kubeadmYaml = fileAt(doc, "/etc/kubernetes/gpuhost/kubeadm.yaml");
    CHECK(kubeadmYaml["content"].as<std::string>() == *kubernetes::initConfiguration(config));
    checkKubeadmFile(kubeadmYaml, config.version, 3);
    CHECK_FALSE(doc["apt"].IsDefined());
    CHECK_FALSE(doc["packages"].IsDefined());
    const auto& s = kubernetes::kInitSteps;
    const std::string kubectl[] = {"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "apply"};
    CHECK(runcmd(doc) ==
          std::vector<Argv>{{"mkdir", "-p", "/var/lib/gpuhost"},
                            step(s, {"swapoff", "-a"}),
                            step(s, {"modprobe", "overlay"}),
                            step(s, {"modprobe", "br_netfilter"}),
                            step(s, {"sysctl", "--system"}),
                            step(s, {"systemctl", "enable", "kubelet"}),
                            step(s, {"kubeadm", "init", "--config", "/etc/kubernetes/gpuhost/kubeadm.yaml"}),
                            step(s, {kubectl[0], kubectl[1], kubectl[2], kubectl[3],
                                     "--filename=" + withManifests().cniManifest}),
                            step(s, {kubectl[0], kubectl[1], kubectl[2], kubectl[3],
                                     "--filename=/opt/gpuhost/nvidia-device-plugin.yml"}),
                            step(s, {"touch", "/var/lib/gpuhost/kubeadm-init.done"})});
    // No manifests: kubeadm init is followed by the marker.
    auto bare = YAML::Load(required(kubernetes::controlPlanePart(config, fakePki())).content);
    auto commands = runcmd(bare);
    REQUIRE(commands.size() == 8);
    CHECK(commands[6][3] == "kubeadm");
    CHECK(commands[7] == step(s, {"touch", "/var/lib/gpuhost/kubeadm-init.done"}));
}

TEST_CASE("kubernetes bootstrap: with packages, the pinned versions come from the Kubernetes apt source") {
    auto config = controlPlane({1, 30, 4});
    auto part = required(kubernetes::controlPlanePart(config, fakePki(), withPackages()));
    CHECK(part.content == test::golden("kubernetes/bootstrap/control-plane-1.30-packages.cfg", part.content));
    auto doc = loadPart(part, "gpuhost-kubernetes-control-plane.cfg");
    auto source = doc["apt"]["sources"]["kubernetes"];
    CHECK(source["source"].as<std::string>() ==
          "deb [signed-by=$KEY_FILE] https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /");
    CHECK(source["key"].as<std::string>() == withPackages().aptKey);
    CHECK(doc["packages"][0].as<std::string>() == "containerd");
    CHECK(doc["packages"][1].as<Argv>() == Argv{"kubeadm", "1.30.4-1.1"});
    CHECK(doc["packages"][2].as<Argv>() == Argv{"kubelet", "1.30.4-1.1"});
    CHECK(doc["packages"][3].as<Argv>() == Argv{"kubectl", "1.30.4-1.1"});
    CHECK(fileAt(doc, "/etc/containerd/config.toml")["content"].as<std::string>().find(
              "SystemdCgroup = true") != std::string::npos);
    checkKubeadmFile(fileAt(doc, "/etc/kubernetes/gpuhost/kubeadm.yaml"), config.version, 3);
    auto commands = runcmd(doc);
    const auto& s = kubernetes::kInitSteps;
    CHECK(commands[1] == step(s, {"apt-mark", "hold", "kubeadm", "kubelet", "kubectl"}));
    CHECK(std::find(commands.begin(), commands.end(), step(s, {"systemctl", "restart", "containerd"})) !=
          commands.end());
    // A worker pins no kubectl; an apt source of one's own needs no key unless it names $KEY_FILE.
    auto options = withPackages();
    options.aptSource =
        "deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] https://mirror.example/k8s/v1.30/deb/ /";
    options.aptKey.clear();
    options.packageRevision = "2.1";
    auto workerDoc =
        YAML::Load(required(kubernetes::workerPart(worker({1, 30, 4}, "cpu-0"), false, options)).content);
    CHECK(workerDoc["packages"].size() == 3);
    CHECK(workerDoc["packages"][2].as<Argv>() == Argv{"kubelet", "1.30.4-2.1"});
    CHECK_FALSE(workerDoc["apt"]["sources"]["kubernetes"]["key"].IsDefined());
    CHECK(runcmd(workerDoc)[1] == step(kubernetes::kJoinSteps, {"apt-mark", "hold", "kubeadm", "kubelet"}));
}

TEST_CASE("kubernetes bootstrap: workers join with their config, and GPU workers are labelled and tainted") {
    for (auto version : {KubernetesVersion{1, 31, 2}, KubernetesVersion{1, 33, 1}}) {
        CAPTURE(version.text());
        auto minor = std::to_string(version.major) + "." + std::to_string(version.minor);
        auto cpu = required(kubernetes::workerPart(worker(version, "train-cpu-0"), false));
        CHECK(cpu.content == test::golden("kubernetes/bootstrap/worker-" + minor + ".cfg", cpu.content));
        auto gpu = required(kubernetes::workerPart(worker(version, "train-h100-0"), true));
        CHECK(gpu.content == test::golden("kubernetes/bootstrap/worker-" + minor + "-gpu.cfg", gpu.content));
        for (const auto& part : {cpu, gpu}) {
            auto doc = loadPart(part, "gpuhost-kubernetes-worker.cfg");
            checkKubeadmFile(fileAt(doc, "/etc/kubernetes/gpuhost/kubeadm-join.yaml"), version, 1);
            auto commands = runcmd(doc);
            const auto& s = kubernetes::kJoinSteps;
            CHECK(commands[commands.size() - 2] ==
                  step(s, {"kubeadm", "join", "--config", "/etc/kubernetes/gpuhost/kubeadm-join.yaml"}));
            CHECK(commands.back() == step(s, {"touch", "/var/lib/gpuhost/kubeadm-join.done"}));
        }
        auto join =
            YAML::Load(fileAt(YAML::Load(gpu.content), "/etc/kubernetes/gpuhost/kubeadm-join.yaml")["content"]
                           .as<std::string>());
        auto registration = join["nodeRegistration"];
        CHECK(registration["kubeletExtraArgs"][0]["value"].as<std::string>() ==
              "gpuhost.io/pool=workers,nvidia.com/gpu.present=true");
        CHECK(registration["taints"].size() == 1);
        CHECK(registration["taints"][0]["key"].as<std::string>() == "nvidia.com/gpu");
        CHECK(registration["taints"][0]["effect"].as<std::string>() == "NoSchedule");
    }
    // A GPU taint the caller already set is not repeated.
    auto config = worker({1, 31, 2}, "train-h100-1");
    config.nodeTaints = {kubernetes::gpuTaint()};
    auto doc = YAML::Load(required(kubernetes::workerPart(config, true)).content);
    auto join =
        YAML::Load(fileAt(doc, "/etc/kubernetes/gpuhost/kubeadm-join.yaml")["content"].as<std::string>());
    CHECK(join["nodeRegistration"]["taints"].size() == 1);
}

TEST_CASE("kubernetes bootstrap: the step runner writes the done marker only when every step succeeded") {
    auto part = required(kubernetes::workerPart(worker({1, 31, 2}, "w-0"), false));
    test::TempDir dir("gpuhost-k8s-steps");
    auto runner = dir.path / "step";
    std::ofstream(runner) << fileAt(YAML::Load(part.content), kRunner)["content"].as<std::string>();
    auto failed = (dir.path / "failed").string();
    auto log = (dir.path / "log").string();
    auto done = (dir.path / "done").string();
    auto run = [&](const std::string& command) {
        return std::system(
            ("sh '" + runner.string() + "' '" + failed + "' '" + log + "' " + command).c_str());
    };
    CHECK(run("echo 'first; $(touch /tmp/never)'") == 0);
    CHECK(run("touch '" + done + "'") == 0);
    CHECK(std::filesystem::exists(done));
    std::filesystem::remove(done);
    CHECK(run("false") != 0);
    CHECK(std::filesystem::exists(failed));
    CHECK(run("touch '" + done + "'") != 0);  // skipped: a step failed before it
    CHECK_FALSE(std::filesystem::exists(done));
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("first; $(touch /tmp/never)\n") != std::string::npos);
    CHECK(text.find("gpuhost: step failed (exit status 1): false\n") != std::string::npos);
    CHECK((std::filesystem::status(log).permissions() & std::filesystem::perms::others_read) ==
          std::filesystem::perms::none);
}

TEST_CASE("kubernetes bootstrap: bad options and PEMs are refused naming the field") {
    auto config = controlPlane({1, 31, 2});
    auto refusedField = [&](void (*mutate)(BootstrapOptions&, kubernetes::ClusterPki&)) {
        auto options = withPackages();
        auto pki = fakePki();
        mutate(options, pki);
        return fieldOf(kubernetes::controlPlanePart(config, pki, options));
    };
    CHECK(refusedField([](BootstrapOptions&, kubernetes::ClusterPki&) {}) == "(accepted)");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) { o.aptKey.clear(); }) == "aptKey");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) { o.aptKey = "mQINBGMHoXc"; }) ==
          "aptKey");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) { o.aptSource = "deb-src x /"; }) ==
          "aptSource");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) { o.aptSource = "deb $MIRROR /"; }) ==
          "aptSource");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) { o.packageRevision = ""; }) ==
          "packageRevision");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) {
              o.cniManifest = "kube-flannel.yml";
          }) == "cniManifest");
    CHECK(refusedField([](BootstrapOptions& o, kubernetes::ClusterPki&) {
              o.devicePluginManifest = "/a/../b";
          }) == "devicePluginManifest");
    CHECK(refusedField([](BootstrapOptions&, kubernetes::ClusterPki& p) { p.ca.keyPem.clear(); }) ==
          "pki.ca.keyPem");
    CHECK(refusedField([](BootstrapOptions&, kubernetes::ClusterPki& p) { p.etcdCa.certPem += "\t"; }) ==
          "pki.etcdCa.certPem");
    CHECK(refusedField([](BootstrapOptions&, kubernetes::ClusterPki& p) {
              p.serviceAccountPublicPem = "x";
          }) == "pki.serviceAccountPublicPem");
    // The configs' own checks come first.
    config.nodeName = "Bad";
    CHECK(fieldOf(kubernetes::controlPlanePart(config, fakePki())) == "nodeName");
    auto join = worker({1, 31, 2}, "w-0");
    join.token = "x";
    CHECK(fieldOf(kubernetes::workerPart(join, true)) == "token");
}

TEST_CASE("kubernetes bootstrap: hostile strings are refused or carried unchanged") {
    auto config = controlPlane({1, 31, 2});
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        const auto& bad = hostile.bytes;
        auto options = withPackages();
        options.cniManifest = bad;
        CHECK(fieldOf(kubernetes::controlPlanePart(config, fakePki(), options)) == "cniManifest");
        options = withPackages();
        options.cniManifest = "https://example.com/" + bad;
        auto part = kubernetes::controlPlanePart(config, fakePki(), options);
        if (part.ok()) {
            auto commands = runcmd(YAML::Load(part->content));
            CHECK(commands[commands.size() - 2].back() == "--filename=" + options.cniManifest);
        }
        for (auto* text : {&options.aptSource, &options.packageRevision, &options.aptKey}) {
            options = withPackages();
            *text = bad;
            CHECK_FALSE(kubernetes::controlPlanePart(config, fakePki(), options).ok());
        }
        // Inside PEM text: refused, or written back byte for byte.
        auto pki = fakePki();
        pki.ca.keyPem = pem("PRIVATE KEY", bad);
        part = kubernetes::controlPlanePart(config, pki);
        if (part.ok()) {
            auto doc = YAML::Load(part->content);
            CHECK(fileAt(doc, "/etc/kubernetes/pki/ca.key")["content"].as<std::string>() == pki.ca.keyPem);
            CHECK(doc["runcmd"].size() == 8);
        } else {
            CHECK(part.error().field == "pki.ca.keyPem");
        }
    }
}

// Every golden cloud-config here passes `cloud-init schema`: checked with all the goldens by
// slurm_tests ("slurm bootstrap: every golden cloud-config, Slurm's and Kubernetes', passes ...").

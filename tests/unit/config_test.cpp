#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config.hpp"
#include "unit/config_helpers.hpp"

using namespace gpuhost::agent;

namespace {

using gpuhost::test::kAuth;
using gpuhost::test::kHash;
const std::string kMinimal = "state_dir: /var/lib/gpuhost\n" + kAuth;

std::string errorOf(const std::string& yaml) {
    return gpuhost::test::configErrorOf(yaml);
}

}  // namespace

TEST_CASE("a minimal config gets safe defaults") {
    auto config = parseConfig(kMinimal, "/etc/gpuhost");
    CHECK(config.listenHost == "127.0.0.1");
    CHECK(config.listenPort == 8080);
    CHECK(config.libvirtUri == "qemu:///system");
    CHECK(config.virtType == VirtType::Kvm);
    CHECK(config.limits.userDataBytes == 64 * 1024);
    CHECK(config.limits.maxConnectionsPerAddress == 256);
    CHECK(config.limits.idleTimeoutUnderPressure == std::chrono::seconds(5));
    CHECK(config.limits.sendTimeout == std::chrono::seconds(30));
    CHECK(config.limits.listMaxItems == 1000);
    REQUIRE(config.tokens.size() == 1);
    CHECK(config.tokens[0].allProjects);
}

TEST_CASE("a full config parses, with paths relative to the config file") {
    auto config = parseConfig(kMinimal + R"(
region: eu-1
listen: "[::1]:9443"
tls: {cert: tls/cert.pem, key: /etc/ssl/key.pem}
libvirt: {uri: "qemu+ssh://root@gpu-07/system", virt_type: qemu}
images:
  ubuntu22.04: images/jammy.qcow2
  debian12: {path: d.qcow2, kernel: vmlinuz, initrd: initrd.img, cmdline: "root=/dev/vda rw"}
instance_types:
  - {name: h100.8x, cpu: 192, memory: 1800Gi, gpu_count: 8, gpu_model: H100-SXM5-80GB}
  - {name: cpu.small, cpu: 2, memory: 4Gi}
limits: {body_bytes: 2097152, user_data_bytes: 65536, max_connections: 10, header_timeout_s: 5,
         max_connections_per_address: 4, idle_timeout_under_pressure_s: 2, send_timeout_s: 7,
         list_max_items: 50}
log_level: debug
)",
                              "/etc/gpuhost");
    CHECK(config.region == "eu-1");
    CHECK(config.listenHost == "::1");
    CHECK(config.listenPort == 9443);
    REQUIRE(config.tls.has_value());
    CHECK(config.tls->cert == "/etc/gpuhost/tls/cert.pem");
    CHECK(config.libvirtUri == "qemu+ssh://root@gpu-07/system");
    REQUIRE(config.images.size() == 2);
    CHECK(config.images[1].kernel == "/etc/gpuhost/vmlinuz");
    REQUIRE(config.instanceTypes.size() == 2);
    CHECK(config.instanceTypes[0].gpuCount == 8);
    CHECK(config.instanceTypes[0].memoryBytes == 1800ull << 30);
    CHECK(config.limits.maxConnections == 10);
    CHECK(config.limits.headerTimeout == std::chrono::seconds(5));
    CHECK(config.limits.maxConnectionsPerAddress == 4);
    CHECK(config.limits.idleTimeoutUnderPressure == std::chrono::seconds(2));
    CHECK(config.limits.sendTimeout == std::chrono::seconds(7));
    CHECK(config.limits.listMaxItems == 50);
}

TEST_CASE("hosts: one named local by default, or a list with one libvirt URI each") {
    auto single = parseConfig(kMinimal, "/etc/gpuhost");
    REQUIRE(single.hosts.size() == 1);
    CHECK(single.hosts[0].name == "local");
    CHECK(single.hosts[0].uri == "qemu:///system");
    auto several = parseConfig(kMinimal +
                                   "hosts:\n  - {name: gpu-01, uri: 'qemu+ssh://root@gpu-01/system'}\n"
                                   "  - {name: gpu-02, uri: 'qemu+tls://gpu-02/system'}\n"
                                   "libvirt: {hugepages: 1Gi}\n",
                               "/etc/gpuhost");
    REQUIRE(several.hosts.size() == 2);
    CHECK(several.hosts[1].name == "gpu-02");
    CHECK(several.hosts[1].uri == "qemu+tls://gpu-02/system");
    CHECK(several.hugepageBytes == 1ull << 30);
}

TEST_CASE("bad configs stop start-up with a message naming the key") {
    struct Case {
        std::string yaml;
        std::string key;
    };
    const std::vector<Case> cases = {
        {"state_dir: [\n", "config"},
        {"- a list\n", "config"},
        {kAuth, "state_dir"},
        {"state_dir: /x\n", "auth"},
        {kMinimal + "bogus: 1\n", "bogus"},
        {kMinimal + "listen: 8080\n", "listen"},
        {kMinimal + "listen: 127.0.0.1:99999\n", "listen"},
        {kMinimal + "listen: example.com:80\n", "listen"},
        {kMinimal + "listen: 0.0.0.0:8080\n", "listen"},  // plain HTTP off loopback
        {kMinimal + "allow_insecure_http: yes-please\n", "allow_insecure_http"},
        {kMinimal + "tls: {cert: a.pem}\n", "tls"},
        {kMinimal + "libvirt: {virt_type: xen}\n", "libvirt.virt_type"},
        {kMinimal + "libvirt: {uri: nonsense}\n", "libvirt.uri"},
        {kMinimal + "libvirt: {url: qemu:///system}\n", "libvirt.url"},
        {"state_dir: /x\nauth: {tokens: []}\n", "auth.tokens"},
        {"state_dir: /x\nauth: {tokens: [{name: t, sha256: abc, projects: ['*']}]}\n",
         "auth.tokens[0].sha256"},
        {"state_dir: /x\nauth: {tokens: [{name: t, sha256: " + kHash + ", projects: [nope]}]}\n",
         "auth.tokens[0].projects[0]"},
        {"state_dir: /x\nauth: {tokens: [{name: t, sha256: " + kHash + "}]}\n", "auth.tokens[0]"},
        {"state_dir: /x\nauth: {tokens: [{name: t, sha256: " + kHash + ", projects: ['*'], admin: true}]}\n",
         "auth.tokens[0].admin"},
        {"state_dir: /x\nauth: {tokens: [{name: t, sha256: " + kHash +
             ", projects: ['*']}, {name: t, sha256: " + kHash + ", projects: ['*']}]}\n",
         "auth.tokens[1].name"},
        {kMinimal + "images: {Bad/Name: /x}\n", "images.Bad/Name"},
        {kMinimal + "images: {ok: {kernel: /k}}\n", "images.ok.path"},
        {kMinimal + "instance_types: {a: 1}\n", "instance_types"},
        {kMinimal + "instance_types: [{name: a, cpu: 0, memory: 1Gi}]\n", "instance_types[0].cpu"},
        {kMinimal + "instance_types: [{name: a, cpu: -2, memory: 1Gi}]\n", "instance_types[0].cpu"},
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1GB}]\n", "instance_types[0].memory"},
        {kMinimal + "instance_types: [{name: a, cpu: 2}]\n", "instance_types[0]"},
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi, gpu_count: 8}]\n",
         "instance_types[0].gpu_model"},
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi}, {name: a, cpu: 1, memory: 1Gi}]\n",
         "instance_types[1].name"},
        {kMinimal + "limits: {body_bytes: 0}\n", "limits.body_bytes"},
        {kMinimal + "limits: {body_bytes: 1024}\n", "limits.body_bytes"},
        {kMinimal + "limits: {max_connections: lots}\n", "limits.max_connections"},
        {kMinimal + "limits: {max_connections_per_address: 0}\n", "limits.max_connections_per_address"},
        {kMinimal + "limits: {send_timeout_s: 0}\n", "limits.send_timeout_s"},
        {kMinimal + "limits: {list_max_items: 0}\n", "limits.list_max_items"},
        {kMinimal + "limits: {list_max_items: 100001}\n", "limits.list_max_items"},
        {kMinimal + "limits: {idle_timeout_under_pressure_s: -1}\n", "limits.idle_timeout_under_pressure_s"},
        {kMinimal + "limits: {timeout: 5}\n", "limits.timeout"},
        {kMinimal + "log_level: loud\n", "log_level"},
        {kMinimal + "region: Not_A_Name\n", "region"},
        {kMinimal + "state_dir: /elsewhere\n", "state_dir"},
        {"state_dir: /x\nauth: {tokens: [{name: a, sha256: " + kHash +
             ", projects: ['*']}, {name: b, sha256: " + kHash + ", projects: ['*']}]}\n",
         "auth.tokens[1].sha256"},
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi, gpu_count: [8], gpu_model: x}]\n",
         "instance_types[0].gpu_count"},
        {kMinimal + "images: {a: /x, a: /y}\n", "images.a"},
        {kMinimal + "limits: {shutdown_grace_s: 600}\n", "limits.shutdown_grace_s"},
        {kMinimal + "limits: {body_bytes: 4096, body_bytes: 8192}\n", "limits.body_bytes"},
        {kMinimal + "hosts: []\n", "hosts"},
        {kMinimal + "hosts: [{name: a}]\n", "hosts[0]"},
        {kMinimal + "hosts: [{name: a, uri: nonsense}]\n", "hosts[0].uri"},
        {kMinimal + "hosts: [{name: 'a b', uri: 'qemu:///system'}]\n", "hosts[0].name"},
        {kMinimal + "hosts: [{name: a, uri: 'qemu:///system', port: 1}]\n", "hosts[0].port"},
        {kMinimal + "hosts: [{name: a, uri: 'qemu:///system'}, {name: a, uri: 'qemu+ssh://b/system'}]\n",
         "hosts[1].name"},
        // The same libvirt twice would hand out every GPU twice.
        {kMinimal + "hosts: [{name: a, uri: 'qemu:///system'}, {name: b, uri: 'qemu:///system'}]\n",
         "hosts[1].uri"},
        {kMinimal + "libvirt: {uri: 'qemu:///system'}\nhosts: [{name: a, uri: 'qemu:///system'}]\n", "hosts"},
        {kMinimal + "libvirt: {hugepages: 4Ki}\n", "libvirt.hugepages"},
        // A model no inventory reports would keep the type out of stock for ever.
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi, gpu_count: 1, gpu_model: H100}]\n",
         "instance_types[0].gpu_model"},
        {kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi}, {name: b, cpu: 2, memory: 1Gi, "
                    "gpu_count: 1, gpu_model: 'NVIDIA Tesla V100'}]\n",
         "instance_types[1].gpu_model"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.yaml);
        std::string message = errorOf(c.yaml);
        REQUIRE_FALSE(message.empty());
        CHECK(message.rfind(c.key + ":", 0) == 0);
    }
}

TEST_CASE("plain HTTP off loopback needs an explicit opt-in or TLS") {
    CHECK_NOTHROW(parseConfig(kMinimal + "listen: 0.0.0.0:8080\nallow_insecure_http: true\n", "/"));
    CHECK_NOTHROW(parseConfig(kMinimal + "listen: 0.0.0.0:8443\ntls: {cert: c.pem, key: k.pem}\n", "/"));
    CHECK(isLoopbackHost("127.0.0.1"));
    CHECK(isLoopbackHost("127.8.9.10"));
    CHECK(isLoopbackHost("::1"));
    CHECK_FALSE(isLoopbackHost("10.0.0.1"));
    CHECK_FALSE(isLoopbackHost("::"));
}

TEST_CASE("instance_types[].gpu_model: NVIDIA's names are aliases, unknown ones are refused with the list") {
    auto config = parseConfig(kMinimal + R"(
instance_types:
  - {name: a, cpu: 2, memory: 1Gi, gpu_count: 8, gpu_model: NVIDIA-H100-80GB-HBM3}
  - {name: b, cpu: 2, memory: 1Gi, gpu_count: 8, gpu_model: "NVIDIA H100 80GB HBM3"}
  - {name: c, cpu: 2, memory: 1Gi, gpu_count: 1, gpu_model: "nvidia a100 80gb pcie"}
  - {name: d, cpu: 2, memory: 1Gi, gpu_count: 1, gpu_model: NVIDIA-2342}
  - {name: e, cpu: 2, memory: 1Gi, gpu_count: 1, gpu_model: l40s-48gb}
  - {name: f, cpu: 2, memory: 1Gi, gpu_count: 0, gpu_model: ""}
)",
                              "/etc/gpuhost");
    std::vector<std::string> models;
    for (const auto& type : config.instanceTypes) {
        models.push_back(type.gpuModel);
    }
    CHECK(models == std::vector<std::string>{"H100-SXM5-80GB", "H100-SXM5-80GB", "A100-PCIE-80GB",
                                             "nvidia-2342", "L40S-48GB", ""});
    std::string message = errorOf(
        kMinimal + "instance_types: [{name: a, cpu: 2, memory: 1Gi, gpu_count: 1, gpu_model: H100-80GB}]\n");
    CHECK(message.rfind("instance_types[0].gpu_model: unknown GPU model \"H100-80GB\"", 0) == 0);
    for (const char* known :
         {"A100-SXM4-40GB", "H100-SXM5-80GB", "H200-SXM-141GB", "B200-SXM-180GB", "L40-48GB"}) {
        CHECK(message.find(known) != std::string::npos);
    }
}

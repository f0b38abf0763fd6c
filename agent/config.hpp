#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/instance_type.hpp"
#include "model/quotas.hpp"
#include "model/uuid.hpp"

namespace gpuhost::agent {

/// A configuration problem; the message starts with the dotted key at fault.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct TokenConfig {
    std::string name;
    std::array<std::uint8_t, 32> sha256{};
    bool allProjects = false;
    std::vector<model::Uuid> projects;
};

struct ImageConfig {
    std::string name;
    std::filesystem::path path;
    std::string format = "qcow2";  // the base's format, given explicitly to every overlay
    std::filesystem::path kernel;  // empty: boot from the disk's own bootloader
    std::filesystem::path initrd;
    std::string cmdline;
};

struct TlsConfig {
    std::filesystem::path cert;
    std::filesystem::path key;
};

struct Limits {
    std::size_t bodyBytes = 1 << 20;
    std::size_t userDataBytes = 64 << 10;
    std::size_t headerBytes = 16 << 10;
    unsigned maxConnections = 1024;
    // One client address may hold at most this many connections (a lockout from one host).
    unsigned maxConnectionsPerAddress = 256;
    std::chrono::seconds headerTimeout{10};
    std::chrono::seconds bodyTimeout{30};
    std::chrono::seconds idleTimeout{60};
    // Past 3/4 of max_connections, a keep-alive connection may idle this long instead.
    std::chrono::seconds idleTimeoutUnderPressure{5};
    // Writing one response may take this long; a client that stops reading is then closed.
    std::chrono::seconds sendTimeout{30};
    // A list answers at most this many items per response (and `limit` may ask for no more):
    // past it the list is cut and the X-Next-Cursor header says where to go on.
    std::size_t listMaxItems = 1000;
    std::chrono::seconds shutdownGrace{10};
};

enum class VirtType { Kvm, Qemu };

/// What the host may hand out. Memory is never overcommitted; vCPUs may be.
struct Capacity {
    double cpuOvercommit = 1.0;
    unsigned reservedCpus = 0;
    std::uint64_t reservedMemoryBytes = 0;
};

/// One hypervisor host the agent drives through its own libvirt connection.
struct HostConfig {
    std::string name;  // shown in instances' `host` field; stored with each instance
    std::string uri;   // qemu:///system, qemu+ssh://root@gpu-02/system, qemu+tls://…
};

/// Limits of the cluster machinery (`clusters:`).
struct ClusterConfig {
    unsigned maxNodesPerPool = 64;
    unsigned maxNodesPerCluster = 128;  // controller and login nodes included
    std::string controllerType;         // empty: the smallest type without GPUs
};

/// How Slurm clusters are run (`slurm:`).
struct SlurmConfig {
    std::string image = "debian12-slurm";  // an images: name; its VMs have Slurm and munge baked in
    std::string version = "22.05";         // the Slurm the image ships
    bool installPackages = false;  // cloud-init installs Slurm (an image without it, with a package source)
};

/// How Kubernetes clusters are run (`kubernetes:`).
struct KubernetesConfig {
    std::string image = "debian12-kubernetes";  // an images: name; its VMs have containerd, kubeadm, kubelet
    std::vector<std::string> versions = {"1.30", "1.31", "1.32", "1.33"};  // minor lines offered
    std::string defaultVersion = "1.31.2";
    std::string podCidr = "10.244.0.0/16";
    std::string serviceCidr = "10.96.0.0/12";
    std::vector<std::string> reservedCidrs = {"192.168.122.0/24"};  // the VM network(s)
    bool installPackages = false;  // cloud-init installs containerd and kubeadm/kubelet/kubectl
    std::string aptSource;         // empty: pkgs.k8s.io for the cluster's minor version
    std::string aptKey;            // the source's armored signing key (text)
    std::string packageRevision = "1.1";
    std::string cniManifest;           // kubectl apply'd after kubeadm init (URL or path in the guest)
    std::string devicePluginManifest;  // likewise, when the cluster has a GPU pool
    std::chrono::seconds tokenTtl{std::chrono::hours(24)};
    std::chrono::hours kubeconfigValidity{24 * 365};
};

struct Config {
    std::string region = "local";
    std::string listenHost = "127.0.0.1";
    std::uint16_t listenPort = 8080;
    std::filesystem::path stateDir;
    bool allowInsecureHttp = false;
    std::optional<TlsConfig> tls;
    std::string libvirtUri = "qemu:///system";
    /// Hosts in placement-tie order; without a `hosts:` section, one named "local" at libvirt.uri.
    std::vector<HostConfig> hosts;
    std::uint64_t hugepageBytes = 0;                 // back GPU guests' memory with hugepages of this size
    std::filesystem::path filesystemsRoot;           // default: state_dir/filesystems
    std::filesystem::path unmountHelper;             // the helper's socket; empty: umount2 in-process
    std::uint64_t filesystemMaxBytes = 16ull << 40;  // the largest `size` a user may ask for
    std::string virtiofsd = "/usr/lib/qemu/virtiofsd";
    VirtType virtType = VirtType::Kvm;
    std::string storagePool = "gpuhost";  // a dir pool under state_dir/pool
    std::filesystem::path poolPath;       // its folder; empty: state_dir/pool (state_dir/pools/<host>)
    std::filesystem::path consoleLogDir;  // serial console logs; empty: state_dir/console
    std::string network = "default";      // libvirt network for the NIC, unless bridge is set
    std::string bridge;
    unsigned tcgCacheMiB = 0;                  // TCG translation cache (0: QEMU's default)
    std::chrono::seconds shutdownTimeout{60};  // ACPI shutdown, then destroy
    std::chrono::seconds resyncInterval{30};   // safety net behind libvirt's events
    Capacity capacity;
    std::vector<TokenConfig> tokens;
    std::vector<ImageConfig> images;
    std::vector<model::InstanceType> instanceTypes;
    Limits limits;
    ClusterConfig clusters;
    SlurmConfig slurm;
    KubernetesConfig kubernetes;
    model::Quotas quotas;
    std::string logLevel = "info";
    unsigned ioThreads = 0;        // 0: one per core
    unsigned blockingThreads = 4;  // libvirt and process calls (the store has 2 of its own)
};

/// Parses YAML text. Relative paths are resolved against `baseDir`.
/// Throws ConfigError naming the key for unknown keys and bad values.
Config parseConfig(const std::string& yamlText, const std::filesystem::path& baseDir);

/// Reads and parses a config file (relative paths resolve against its directory).
Config loadConfigFile(const std::filesystem::path& file);

/// True for 127.0.0.0/8 and ::1 (and "localhost").
bool isLoopbackHost(const std::string& host);

std::string_view nameOf(VirtType type);

}  // namespace gpuhost::agent

// gpuhostd: wiring only. Reads the config, builds the concrete store, services and
// API, runs the event loop, and turns signals into reload and shutdown.
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "api_context.hpp"
#include "auth.hpp"
#include "blocking_pool.hpp"
#include "config.hpp"
#include "file_modes.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/event_loop.hpp"
#include "libvirt/libvirt_guest_agent.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "libvirt/libvirt_storage.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "process/process.hpp"
#include "request_handler.hpp"
#include "seed/iso_seed_writer.hpp"
#include "server.hpp"
#include "services/catalog.hpp"
#include "services/cluster_module.hpp"
#include "services/instance_module.hpp"
#include "services/kubernetes_kind.hpp"
#include "services/project_service.hpp"
#include "services/slurm_kind.hpp"
#include "store/sqlite_store.hpp"
#include "unmount/socket_releaser.hpp"

namespace asio = boost::asio;
using namespace gpuhost;

namespace {

struct Options {
    std::filesystem::path config;
    bool checkOnly = false;
};

int usage() {
    std::cerr << "usage: gpuhostd --config FILE [--check-config]\n";
    return 2;
}

std::optional<Options> parseArguments(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            options.config = argv[++i];
        } else if (arg == "--check-config") {
            options.checkOnly = true;
        } else {
            return std::nullopt;
        }
    }
    if (options.config.empty()) {
        return std::nullopt;
    }
    return options;
}

struct Runtime {
    std::filesystem::path configFile;
    const agent::Config& config;
    api::Server& server;
    api::TokenAuthenticator& auth;
    agent::InstanceModule& instances;
    agent::ClusterModule& clusters;
    agent::FilesystemService& filesystems;
    agent::BlockingPool& blocking;
    asio::signal_set& signals;
};

// SIGHUP: re-read the config file off the I/O threads; apply tokens and TLS, keep the
// old ones if the file is now invalid. Other keys take effect at the next restart.
void reload(Runtime& runtime) {
    runtime.blocking.post([&runtime] {
        try {
            auto fresh = agent::loadConfigFile(runtime.configFile);
            runtime.auth.replace(fresh.tokens);
            agent::log::info("reloaded auth.tokens", {{"tokens", std::to_string(fresh.tokens.size())}});
        } catch (const std::exception& e) {
            agent::log::error("reload failed; keeping the running tokens", {{"error", e.what()}});
        }
        runtime.server.reloadTls();
    });
}

void handleSignals(Runtime& runtime) {
    runtime.signals.async_wait([&runtime](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        if (signal == SIGHUP) {
            reload(runtime);
            handleSignals(runtime);
            return;
        }
        sd_notify(0, "STOPPING=1");
        agent::log::info("shutting down", {{"signal", strsignal(signal)}});
        // Jobs stop at their next step; the store keeps their transitional state and
        // the reconciler finishes them at the next start.
        runtime.clusters.stop();
        runtime.instances.stop();
        runtime.filesystems.stop();
        asio::co_spawn(
            runtime.signals.get_executor(),
            [&runtime]() -> asio::awaitable<void> {
                co_await runtime.server.shutdown(runtime.config.limits.shutdownGrace);
                runtime.signals.cancel();
            },
            asio::detached);
    });
}

agent::SlurmOptions slurmOptions(const agent::Config& config) {
    agent::SlurmOptions options;
    options.image = "image://" + config.slurm.image;
    options.version = config.slurm.version;
    options.installPackages = config.slurm.installPackages;
    return options;
}

agent::KubernetesOptions kubernetesOptions(const agent::Config& config) {
    const auto& k8s = config.kubernetes;
    agent::KubernetesOptions options;
    options.image = "image://" + k8s.image;
    options.versions = k8s.versions;
    options.defaultVersion = k8s.defaultVersion;
    options.podCidr = k8s.podCidr;
    options.serviceCidr = k8s.serviceCidr;
    options.reservedCidrs = k8s.reservedCidrs;
    options.tokenTtl = k8s.tokenTtl;
    options.kubeconfigValidity = k8s.kubeconfigValidity;
    options.bootstrap.installPackages = k8s.installPackages;
    options.bootstrap.aptSource = k8s.aptSource;
    options.bootstrap.aptKey = k8s.aptKey;
    options.bootstrap.packageRevision = k8s.packageRevision;
    options.bootstrap.cniManifest = k8s.cniManifest;
    options.bootstrap.devicePluginManifest = k8s.devicePluginManifest;
    return options;
}

agent::ClusterOptions clusterOptions(const agent::Config& config) {
    agent::ClusterOptions options;
    options.maxNodesPerPool = config.clusters.maxNodesPerPool;
    options.maxNodesPerCluster = config.clusters.maxNodesPerCluster;
    options.defaultControllerType = config.clusters.controllerType;
    options.quotas = config.quotas;
    return options;
}

agent::InstanceOptions instanceOptions(const agent::Config& config) {
    agent::InstanceOptions options;
    options.scratchDir = config.stateDir / "scratch";
    // Written by virtlogd (root) and chowned by libvirt to QEMU's user: the packaged config
    // keeps it out of the unit's StateDirectory, which systemd may re-own recursively.
    options.consoleLogDir = config.consoleLogDir.empty() ? config.stateDir / "console" : config.consoleLogDir;
    options.network = config.network;
    options.bridge = config.bridge;
    options.accelerator =
        config.virtType == agent::VirtType::Kvm ? drivers::Accelerator::Kvm : drivers::Accelerator::Tcg;
    options.tcgCacheMiB = config.tcgCacheMiB;
    options.quotas = config.quotas;
    options.shutdownTimeout = config.shutdownTimeout;
    options.resyncInterval = config.resyncInterval;
    options.userDataLimit = config.limits.userDataBytes;
    options.capacity = config.capacity;
    options.hugepageBytes = config.hugepageBytes;
    options.virtiofsd = config.virtiofsd;
    // Nothing in scratch outlives the job that wrote it: what is there now a crash left.
    std::error_code ignored;
    std::filesystem::remove_all(options.scratchDir, ignored);
    agent::makeDirectory(options.scratchDir, agent::kPrivateDir);  // seeds: user-data in the clear
    // virtlogd (root) writes the console logs; a folder configured elsewhere keeps the mode
    // its owner gave it (the package's is 0750 for the gpuhost group).
    if (agent::isInside(options.consoleLogDir, config.stateDir)) {
        agent::makeDirectory(options.consoleLogDir, agent::kPrivateDir);
    } else {
        std::filesystem::create_directories(options.consoleLogDir);
    }
    return options;
}

// Every connection is a descriptor, and so are libvirt sockets, the store and child
// pipes: take the whole hard limit (the usual soft default, 1024, is below the default
// max_connections) and say so when even that cannot hold max_connections.
void raiseFileLimit(unsigned maxConnections) {
    constexpr rlim_t kReserve = 256;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < maxConnections + kReserve) {
        agent::log::warn(
            "the file descriptor limit is below max_connections plus a reserve; "
            "raise LimitNOFILE",
            {{"limit", std::to_string(limit.rlim_cur)}, {"max_connections", std::to_string(maxConnections)}});
    }
}

int run(const std::filesystem::path& configFile, const agent::Config& config) {
    agent::log::setLevel(config.logLevel);
    raiseFileLimit(config.limits.maxConnections);
    drivers::setReniceFailureHandler([](int error) {
        agent::log::warn("cannot renice helper processes (xorriso); they run at normal priority",
                         {{"error", std::strerror(error)}});
    });
    // One connection per host. Volumes travel through libvirt's upload streams, so no
    // disk is shared; each host's pool directory is named after it (one host: "pool"),
    // so hosts that happen to share a file system never share volume files.
    // libvirt.pool_path moves the pool out of state_dir (the packaged layout: QEMU-owned
    // overlays must not lie in the unit's StateDirectory).
    bool oneHost = config.hosts.size() == 1;
    std::filesystem::path poolRoot =
        !config.poolPath.empty() ? config.poolPath : config.stateDir / (oneHost ? "pool" : "pools");
    agent::makeDirectory(config.stateDir, agent::stateDirMode(config.stateDir, poolRoot));
    // libvirt's event loop must exist before the first connection opens.
    drivers::libvirt::EventLoop libvirtEvents;
    // Filesystem images are loop-mounted by libvirtd, which never unmounts them: the privileged
    // helper does where one is configured (the packaged unit), else umount2 in this process.
    std::unique_ptr<drivers::MountReleaser> helperReleaser;
    if (!config.unmountHelper.empty()) {
        helperReleaser =
            std::make_unique<drivers::SocketMountReleaser>(config.unmountHelper, config.filesystemsRoot);
    }
    drivers::MountReleaser& releaser = helperReleaser ? *helperReleaser : drivers::directMountReleaser();
    auto options = instanceOptions(config);
    // Each host has its own blocking pool, its share of blocking_threads (at least two): a
    // hung libvirtd holds its own host's threads for as long as it hangs (libvirt calls have
    // no timeout), and the other hosts' work goes on meanwhile.
    unsigned perHost = std::max(2u, config.blockingThreads / static_cast<unsigned>(config.hosts.size()));
    struct HostDrivers {
        HostDrivers(const agent::Config& config, const agent::HostConfig& host,
                    const std::filesystem::path& pool, drivers::MountReleaser& releaser,
                    const std::filesystem::path& scratch, unsigned threads)
            : connection(host.uri),
              hypervisor(connection),
              storage(connection, config.storagePool, pool,
                      config.hosts.size() == 1 ? config.filesystemsRoot : config.filesystemsRoot / host.name,
                      releaser),
              seeds(storage, scratch),
              guestAgent(connection),
              blocking(threads) {}
        drivers::libvirt::Connection connection;
        drivers::libvirt::LibvirtHypervisor hypervisor;
        drivers::libvirt::LibvirtStorage storage;
        drivers::IsoSeedWriter seeds;
        drivers::libvirt::LibvirtGuestAgent guestAgent;
        agent::BlockingPool blocking;
    };
    std::vector<std::unique_ptr<HostDrivers>> hostDrivers;
    std::vector<agent::HostBinding> hosts;
    for (const auto& host : config.hosts) {
        hostDrivers.push_back(std::make_unique<HostDrivers>(
            config, host, oneHost ? poolRoot : poolRoot / host.name, releaser, options.scratchDir, perHost));
        auto& made = *hostDrivers.back();
        hosts.push_back(
            {host.name, &made.hypervisor, &made.storage, &made.seeds, &made.guestAgent, &made.blocking});
    }

    agent::Metrics metrics;
    agent::SqliteStore store(config.stateDir / "gpuhost.db", &metrics);
    // Store calls have a pool of their own, apart from the hosts': admissions, deletes and
    // reloads must reach the store while a libvirtd hangs.
    agent::BlockingPool storePool(2);
    agent::BlockingPool blocking(2);  // reloads
    agent::ProjectService projects(store, storePool);
    if (auto loaded = projects.loadBlocking(); !loaded) {
        throw std::runtime_error(loaded.error().message);
    }
    metrics.addResourceCounter([&projects] { return projects.countByState(); });
    agent::Catalog catalog(config);

    asio::io_context ioc;
    agent::InstanceModule instances(store, store, catalog, storePool, blocking, std::move(hosts),
                                    ioc.get_executor(), std::move(options));
    if (auto loaded = instances.loadBlocking(); !loaded) {
        throw std::runtime_error(loaded.error().message);
    }
    metrics.addResourceCounter([&instances] { return instances.service().countByState(); });
    std::vector<agent::FilesystemHost> filesystemHosts;
    for (std::size_t h = 0; h < hostDrivers.size(); ++h) {
        filesystemHosts.push_back(
            {config.hosts[h].name, &hostDrivers[h]->storage, &hostDrivers[h]->blocking});
    }
    agent::FilesystemService filesystems(store, storePool, blocking, std::move(filesystemHosts),
                                         ioc.get_executor(), config.filesystemMaxBytes,
                                         config.resyncInterval);
    filesystems.setQuotas(config.quotas);
    if (auto loaded = filesystems.loadBlocking(); !loaded) {
        throw std::runtime_error(loaded.error().message);
    }
    instances.setFilesystems(&filesystems);
    metrics.addResourceCounter([&filesystems] { return filesystems.countByState(); });

    // Clusters ride on the instance machinery: loaded before it starts, as members' seeds
    // need their cluster.
    agent::SlurmKind slurm(catalog, slurmOptions(config));
    agent::KubernetesKind kubernetes(catalog, kubernetesOptions(config));
    agent::ClusterModule clusters(store, storePool, catalog, instances, {&slurm, &kubernetes},
                                  ioc.get_executor(), clusterOptions(config));
    if (auto loaded = clusters.loadBlocking(); !loaded) {
        throw std::runtime_error(loaded.error().message);
    }
    metrics.addResourceCounter([&clusters] { return clusters.service().countByPhase(); });

    api::ApiContext context{projects, instances.service(), filesystems, catalog, metrics};
    context.clusters = &clusters.api();
    context.listMaxItems = config.limits.listMaxItems;
    api::TokenAuthenticator auth(config.tokens);
    api::RequestHandler handler(context, auth);

    api::Server server(ioc, handler,
                       api::ServerOptions{config.listenHost, config.listenPort, config.limits, config.tls});
    server.start();
    asio::signal_set signals(ioc, SIGTERM, SIGINT, SIGHUP);
    Runtime runtime{configFile, config, server, auth, instances, clusters, filesystems, storePool, signals};
    handleSignals(runtime);
    filesystems.start();  // first: instances wait for their filesystems' mounts
    instances.start();
    clusters.start();

    std::string address = config.listenHost + ":" + std::to_string(server.port());
    agent::log::info(
        "listening",
        {{"address", address}, {"tls", config.tls ? "on" : "off"}, {"state_dir", config.stateDir.string()}});
    sd_notify(0, "READY=1");

    unsigned threads =
        config.ioThreads != 0 ? config.ioThreads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i) {
        workers.emplace_back([&ioc] {
            agent::markIoThread();
            ioc.run();
        });
    }
    agent::markIoThread();
    ioc.run();
    for (auto& worker : workers) {
        worker.join();
    }
    for (auto& host : hostDrivers) {
        host->blocking.join();  // blocking work in flight still uses the services
    }
    blocking.join();
    storePool.join();
    libvirtEvents.stop();
    agent::log::info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    agent::restrictNewFiles();  // before anything is created, by this process or its children
    // libvirt's RPC client writes to its socket with write(): when libvirtd dies between two
    // calls, the next write raises SIGPIPE, which would kill the daemon (seen: ~1 run in 50 of
    // the libvirtd-killed test). systemd's IgnoreSIGPIPE= covers the unit, not ./run.sh or
    // other launchers. Helpers get the default back (drivers/process).
    std::signal(SIGPIPE, SIG_IGN);
    auto options = parseArguments(argc, argv);
    if (!options) {
        return usage();
    }
    try {
        auto config = agent::loadConfigFile(options->config);
        if (options->checkOnly) {
            std::cout << "config ok: " << options->config.string() << "\n";
            return 0;
        }
        return run(options->config, config);
    } catch (const agent::ConfigError& e) {
        std::cerr << "gpuhostd: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        agent::log::error("fatal", {{"error", e.what()}});
        return 1;
    }
}

#include "services/kubernetes_kind.hpp"

#include <algorithm>
#include <set>

#include "kubeadm_config.hpp"
#include "kubeconfig.hpp"
#include "log.hpp"
#include "model/cidr.hpp"
#include "node_list.hpp"
#include "services/cluster_guest.hpp"
#include "version.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

constexpr std::string_view kControlPlane = "control-plane";
constexpr int kApiServerPort = 6443;
const std::string kAdminConf = "/etc/kubernetes/admin.conf";

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string minorOf(const kubernetes::KubernetesVersion& version) {
    return std::to_string(version.major) + "." + std::to_string(version.minor);
}

// Node names we may hand to kubectl as an argument (ours are <pool>-<index>).
bool isSafeNodeName(std::string_view name) {
    return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    });
}

model::KubernetesNodeFacts factsOf(const kubernetes::NodeState& node) {
    model::KubernetesNodeFacts facts;
    facts.state = node.state;
    facts.unschedulable = node.unschedulable;
    facts.kubeletVersion = node.kubeletVersion;
    facts.createdAt = node.createdAt;
    for (const auto& c : node.conditions) {
        facts.conditions.push_back(
            {c.type, c.status, c.lastHeartbeatTime, c.lastTransitionTime, c.reason, c.message});
    }
    if (node.accelerator) {
        facts.accelerator = model::NodeAccelerator{node.accelerator->type, node.accelerator->product,
                                                   node.accelerator->driverVersion};
    }
    facts.labels = node.labels;
    for (const auto& t : node.taints) {
        facts.taints.push_back({t.key, t.value, t.effect});
    }
    return facts;
}

std::string withoutV(std::string version) {
    return version.starts_with('v') ? version.substr(1) : version;
}

}  // namespace

KubernetesKind::KubernetesKind(const Catalog& catalog, KubernetesOptions options)
    : catalog_(catalog), options_(std::move(options)) {}

Result<std::string> KubernetesKind::newSecret() const {
    auto pki = kubernetes::generateClusterPki(options_.caValidity);
    if (!pki) {
        return pki.error();
    }
    return kubernetes::serializePki(*pki);
}

Result<std::string> KubernetesKind::newKindState(const model::Cluster& cluster) const {
    auto token = kubernetes::newBootstrapToken();
    if (!token) {
        return token.error();
    }
    return serializeProgress({*token, unixNow(), cluster.version, {}});
}

void KubernetesKind::applyDefaults(model::Cluster& cluster) const {
    if (!cluster.network) {
        cluster.network = model::KubernetesNetwork{};
    }
    if (cluster.network->podCidr.empty()) {
        cluster.network->podCidr = options_.podCidr;
    }
    if (cluster.network->serviceCidr.empty()) {
        cluster.network->serviceCidr = options_.serviceCidr;
    }
}

Result<void> KubernetesKind::validate(const model::Cluster& cluster) const {
    auto imageName = model::parseImageReference(options_.image);
    if (!imageName || catalog_.findImage(*imageName) == nullptr) {
        return Error{ErrorCode::Unavailable,
                     "this region has no Kubernetes image (kubernetes.image " + options_.image +
                         " is not among images:)",
                     {}};
    }
    auto version = kubernetes::parseKubernetesVersion(cluster.version, "version");
    if (!version) {
        return version.error();
    }
    if (std::find(options_.versions.begin(), options_.versions.end(), minorOf(*version)) ==
        options_.versions.end()) {
        std::string offered;
        for (const auto& minor : options_.versions) {
            offered += (offered.empty() ? "" : ", ") + minor;
        }
        return Error::invalid("version", "this region offers Kubernetes " + offered);
    }
    if (auto api = kubernetes::kubeadmApiVersion(*version, "version"); !api) {
        return api.error();
    }
    if (cluster.loginCount > 0) {
        return Error::invalid("loginNodes", "Kubernetes clusters have no login nodes");
    }
    if (!cluster.network) {
        return Error::invalid("podCIDRBlock", "is required");
    }
    auto pods = model::parseIpv4Cidr(cluster.network->podCidr, "podCIDRBlock");
    if (!pods) {
        return pods.error();
    }
    auto services = model::parseIpv4Cidr(cluster.network->serviceCidr, "serviceCIDRBlock");
    if (!services) {
        return services.error();
    }
    if (pods->overlaps(*services)) {
        return Error::invalid("serviceCIDRBlock", "overlaps podCIDRBlock " + pods->text());
    }
    for (const auto& text : options_.reservedCidrs) {
        auto reserved = model::parseIpv4Cidr(text, "kubernetes.reserved_cidrs");
        if (!reserved) {
            continue;  // checked when the config was read
        }
        if (pods->overlaps(*reserved)) {
            return Error::invalid("podCIDRBlock", "overlaps the VM network " + reserved->text());
        }
        if (services->overlaps(*reserved)) {
            return Error::invalid("serviceCIDRBlock", "overlaps the VM network " + reserved->text());
        }
    }
    return {};
}

Result<void> KubernetesKind::validateChange(const model::Cluster& before, const model::Cluster& after) const {
    if (before.version == after.version) {
        return {};
    }
    auto from = kubernetes::parseKubernetesVersion(before.version, "version");
    auto to = kubernetes::parseKubernetesVersion(after.version, "version");
    if (!from || !to) {
        return !from ? from.error() : to.error();
    }
    if (auto step = kubernetes::checkUpgradeStep(*from, *to, "version"); !step) {
        return step;
    }
    // The roll (kubeadm upgrade apply, then each worker in turn) is not built yet: say so
    // rather than store a version nothing would move the cluster to.
    return Error{ErrorCode::NotImplemented, "Kubernetes upgrades are not implemented yet", "version"};
}

void KubernetesKind::forget(const model::Uuid& cluster) {
    std::lock_guard lock(mutex_);
    pkis_.erase(cluster);
}

std::vector<RoleSlot> KubernetesKind::roles(const model::Cluster& cluster) const {
    return {{std::string(kControlPlane), 1, cluster.controllerType}};
}

std::string KubernetesKind::nodeName(const model::InstanceOwner& owner) const {
    if (!owner.nodePool.empty()) {
        return owner.nodePool + "-" + std::to_string(owner.index);
    }
    return owner.role;
}

Result<kubernetes::ClusterPki> KubernetesKind::pkiOf(const ClusterEntry& entry) const {
    {
        std::lock_guard lock(mutex_);
        if (auto it = pkis_.find(entry.cluster.id); it != pkis_.end()) {
            return it->second;
        }
    }
    auto pki = kubernetes::parsePki(entry.secret);
    if (!pki) {
        return Error::internal("the cluster's stored PKI is unreadable: " + pki.error().message);
    }
    std::lock_guard lock(mutex_);
    pkis_[entry.cluster.id] = *pki;
    return *pki;
}

void KubernetesKind::describe(const ClusterState& state, model::ClusterView& view) const {
    if (auto pki = pkiOf(state.entry)) {
        view.certificateAuthority = pki->ca.certPem;
    }
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane != nullptr && controlPlane->ip) {
        view.endpoint = "https://" + *controlPlane->ip + ":" + std::to_string(kApiServerPort);
    }
}

Result<std::string> KubernetesKind::clientConfig(const ClusterState& state) const {
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane == nullptr || !controlPlane->ip) {
        return Error{ErrorCode::Unavailable, "the control plane has no address yet; retry once it runs", {}};
    }
    auto pki = pkiOf(state.entry);
    if (!pki) {
        return pki.error();
    }
    auto version = kubernetes::parseKubernetesVersion(state.entry.cluster.version, "version");
    kubernetes::CertificateRequest request;
    request.commonName = "gpuhost-admin";
    // kubeadm binds kubeadm:cluster-admins to cluster-admin from 1.29; before, only the
    // system:masters group grants it.
    bool adminsGroup = version && (version->major > 1 || version->minor >= 29);
    request.organizations = {adminsGroup ? "kubeadm:cluster-admins" : "system:masters"};
    request.client = true;
    request.validity = options_.kubeconfigValidity;
    auto client = kubernetes::issueCertificate(pki->ca, request);
    if (!client) {
        return client.error();
    }
    kubernetes::KubeconfigRequest kubeconfig;
    kubeconfig.clusterName = state.entry.cluster.name;
    kubeconfig.server = "https://" + *controlPlane->ip + ":" + std::to_string(kApiServerPort);
    kubeconfig.caCertPem = pki->ca.certPem;
    kubeconfig.userName = "gpuhost-admin";
    kubeconfig.client = std::move(*client);
    return kubernetes::renderKubeconfig(kubeconfig);
}

kubernetes::BootstrapOptions KubernetesKind::bootstrapOptions(const model::Cluster& cluster) const {
    auto options = options_.bootstrap;
    bool anyGpu =
        std::any_of(cluster.pools.begin(), cluster.pools.end(), [&](const model::ClusterPool& pool) {
            const auto* type = catalog_.findInstanceType(pool.type);
            return type != nullptr && type->gpuCount > 0;
        });
    if (!anyGpu) {
        options.devicePluginManifest.clear();
    }
    return options;
}

Result<std::optional<cloudinit::Part>> KubernetesKind::bootstrapPart(const ClusterState& state,
                                                                     const Instance& member) const {
    const auto& cluster = state.entry.cluster;
    auto progress = parseProgress(state.entry.kindState);
    auto pki = pkiOf(state.entry);
    if (!progress || !pki) {
        return !progress ? progress.error() : pki.error();
    }
    // Members join at the version the control plane runs (a kubelet never newer than its API server).
    auto version = kubernetes::parseKubernetesVersion(progress->controlPlaneVersion, "version");
    if (!version) {
        return version.error();
    }
    const auto& owner = *member.owner;
    if (owner.role == kControlPlane) {
        kubernetes::ControlPlaneConfig config;
        config.version = *version;
        config.clusterName = cluster.name;
        config.nodeName = nodeName(owner);
        config.podSubnet = cluster.network ? cluster.network->podCidr : options_.podCidr;
        config.serviceSubnet = cluster.network ? cluster.network->serviceCidr : options_.serviceCidr;
        config.bootstrapToken = progress->token;
        config.tokenTtl = options_.tokenTtl;
        auto part = kubernetes::controlPlanePart(config, *pki, bootstrapOptions(cluster));
        if (!part) {
            return part.error();
        }
        return std::optional<cloudinit::Part>(std::move(*part));
    }
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane == nullptr || !controlPlane->ip) {
        return Error{ErrorCode::Unavailable, "waiting for the control plane's address", {}};
    }
    auto hash = kubernetes::caCertHash(pki->ca.certPem);
    if (!hash) {
        return hash.error();
    }
    kubernetes::JoinConfig config;
    config.version = *version;
    config.nodeName = nodeName(owner);
    config.apiServerEndpoint = *controlPlane->ip + ":" + std::to_string(kApiServerPort);
    config.token = progress->token;
    config.caCertHashes = {*hash};
    const auto* pool = cluster.findPool(owner.nodePool);
    const auto* type = pool != nullptr ? catalog_.findInstanceType(pool->type) : nullptr;
    bool gpu = type != nullptr && type->gpuCount > 0;
    auto part = kubernetes::workerPart(config, gpu, bootstrapOptions(cluster));
    if (!part) {
        return part.error();
    }
    return std::optional<cloudinit::Part>(std::move(*part));
}

asio::awaitable<Result<bool>> KubernetesKind::exists(const ClusterState& state, const Instance& member,
                                                     std::string_view path) const {
    auto guest = state.guestOf(member);
    if (!guest) {
        co_return Error{ErrorCode::Unavailable, "no guest agent for " + member.name, {}};
    }
    auto result =
        co_await exec(*guest, guestArgv("test", "-e", std::string(path)), {}, options_.commandTimeout);
    if (!result) {
        co_return result.error();
    }
    if (!result->exitCode || (*result->exitCode != 0 && *result->exitCode != 1)) {
        co_return Error{ErrorCode::Unavailable, "test -e in " + member.name + " did not answer", {}};
    }
    co_return *result->exitCode == 0;
}

asio::awaitable<std::string> KubernetesKind::logTail(const ClusterState& state, const Instance& member,
                                                     std::string_view path) const {
    auto tail = co_await runInMember(state, member, guestArgv("tail", "-n", "5", std::string(path)),
                                     options_.commandTimeout);
    co_return tail ? *tail : std::string("(no log: ") + tail.error().message + ")";
}

asio::awaitable<Result<std::string>> KubernetesKind::kubectl(const ClusterState& state,
                                                             const Instance& controlPlane,
                                                             std::vector<std::string> args) const {
    auto argv = guestArgv("kubectl", "--kubeconfig", kAdminConf);
    argv.insert(argv.end(), args.begin(), args.end());
    co_return co_await runInMember(state, controlPlane, std::move(argv), options_.commandTimeout);
}

asio::awaitable<Result<std::optional<KubernetesProgress>>> KubernetesKind::renewToken(
    const ClusterState& state, const Instance& controlPlane, KubernetesProgress progress) const {
    auto age = std::chrono::seconds(unixNow() - progress.tokenIssuedAt);
    if (age < options_.tokenTtl / 2) {
        co_return std::optional<KubernetesProgress>();
    }
    auto token = kubernetes::newBootstrapToken();
    if (!token) {
        co_return token.error();
    }
    auto ttl = std::to_string(options_.tokenTtl.count()) + "s";
    auto created = co_await runInMember(
        state, controlPlane,
        guestArgv("kubeadm", "token", "create", *token, "--ttl", ttl, "--kubeconfig", kAdminConf),
        options_.commandTimeout);
    if (!created) {
        co_return created.error();
    }
    progress.token = *token;
    progress.tokenIssuedAt = unixNow();
    co_return std::optional<KubernetesProgress>(std::move(progress));
}

asio::awaitable<StepOutcome> KubernetesKind::bootstrap(const ClusterState& state) {
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane == nullptr || controlPlane->state != InstanceState::Running) {
        co_return StepOutcome::waiting("waiting for the control-plane VM");
    }
    auto progress = parseProgress(state.entry.kindState);
    if (!progress) {
        co_return StepOutcome::fatal("reading the cluster's progress", progress.error().message);
    }
    const std::string initStep = "kubeadm init on " + controlPlane->name;
    auto failed = co_await exists(state, *controlPlane, kubernetes::kInitSteps.failed);
    if (!failed) {
        co_return failed.error().code == ErrorCode::Unavailable
            ? StepOutcome::waiting(initStep + " (booting)")
            : StepOutcome::transient(initStep, failed.error().message);
    }
    if (*failed) {
        auto tail = co_await logTail(state, *controlPlane, kubernetes::kInitSteps.log);
        co_return StepOutcome::fatal(initStep, "failed: " + tail);
    }
    auto done = co_await exists(state, *controlPlane, kubernetes::kInitSteps.done);
    if (!done || !*done) {
        co_return StepOutcome::waiting(initStep);
    }
    auto renewed = co_await renewToken(state, *controlPlane, *progress);
    if (!renewed) {
        co_return StepOutcome::transient("renewing the join token", renewed.error().message);
    }
    // A worker whose join failed says so in its own guest; the API server only shows it missing.
    std::string joining;
    for (const auto& member : state.members) {
        if (member.owner->nodePool.empty() || member.state != InstanceState::Running) {
            continue;
        }
        const auto& report = state.entry.progress.report;
        if (report && report->nodes.contains(nodeName(*member.owner))) {
            continue;  // registered
        }
        auto joinFailed = co_await exists(state, member, kubernetes::kJoinSteps.failed);
        if (joinFailed && *joinFailed) {
            auto tail = co_await logTail(state, member, kubernetes::kJoinSteps.log);
            auto outcome = StepOutcome::fatal("kubeadm join on " + member.name, "failed: " + tail);
            if (*renewed) {
                outcome.kindState = serializeProgress(**renewed);
            }
            co_return outcome;
        }
        joining += (joining.empty() ? "" : ", ") + nodeName(*member.owner);
    }
    auto outcome =
        joining.empty() ? StepOutcome::finished("") : StepOutcome::waiting("kubeadm join on " + joining);
    // The token is looked at again well before it expires, whatever else happens.
    outcome.recheckAfter =
        std::max<std::chrono::milliseconds>(options_.tokenTtl / 4, std::chrono::seconds(1));
    if (*renewed) {
        outcome.kindState = serializeProgress(**renewed);
    }
    co_return outcome;
}

asio::awaitable<Result<SchedulerReport>> KubernetesKind::observe(const ClusterState& state) {
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane == nullptr || controlPlane->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the control plane is not running", {}};
    }
    auto text = co_await kubectl(state, *controlPlane, guestArgv("get", "nodes", "-o", "json"));
    if (!text) {
        co_return Error{ErrorCode::Unavailable, text.error().message, {}};  // not initialized yet
    }
    auto nodes = kubernetes::parseNodeList(*text);
    if (!nodes) {
        co_return nodes.error();
    }
    std::set<std::string> members;
    for (const auto& member : state.members) {
        members.insert(nodeName(*member.owner));
    }
    SchedulerReport report;
    for (const auto& node : *nodes) {
        if (!members.contains(node.name)) {
            // A node object with no VM behind it (a crash between its VM's delete and this):
            // remove it, so no NotReady ghost stays.
            if (isSafeNodeName(node.name)) {
                auto removed = co_await kubectl(state, *controlPlane,
                                                guestArgv("delete", "node", node.name, "--ignore-not-found"));
                log::info("removed a Kubernetes node with no VM",
                          {{"cluster", state.entry.cluster.id.str()},
                           {"node", node.name},
                           {"ok", removed ? "true" : removed.error().message}});
            }
            continue;
        }
        NodeReport entry;
        entry.ready = node.state == "Ready";
        entry.states = {node.statusText()};
        entry.version = withoutV(node.kubeletVersion);
        entry.kubernetes = factsOf(node);
        if (node.name == kControlPlane) {
            report.version = entry.version;
        }
        report.nodes[node.name] = std::move(entry);
    }
    co_return report;
}

asio::awaitable<Result<bool>> KubernetesKind::retire(const ClusterState& state,
                                                     const std::vector<Instance>& leaving) {
    const auto* controlPlane = state.memberWithRole(kControlPlane);
    if (controlPlane == nullptr || controlPlane->state == InstanceState::Deleting ||
        controlPlane->state == InstanceState::OutOfStock || controlPlane->state == InstanceState::Failed) {
        co_return true;  // no API server that could know them
    }
    if (controlPlane->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the control plane is not running", {}};
    }
    auto text = co_await kubectl(state, *controlPlane, guestArgv("get", "nodes", "-o", "json"));
    if (!text) {
        // Not initialized yet: no node can have joined; the ghost sweep covers a race.
        if (state.entry.progress.report.has_value()) {
            co_return Error{ErrorCode::Unavailable, text.error().message, {}};
        }
        co_return true;
    }
    auto nodes = kubernetes::parseNodeList(*text);
    if (!nodes) {
        co_return nodes.error();
    }
    auto drainTimeout = std::to_string(options_.drainTimeout.count()) + "s";
    bool allGone = true;
    for (const auto& member : leaving) {
        auto name = nodeName(*member.owner);
        bool listed = std::any_of(nodes->begin(), nodes->end(),
                                  [&](const kubernetes::NodeState& node) { return node.name == name; });
        if (!listed || !isSafeNodeName(name)) {
            continue;
        }
        if (auto cordoned = co_await kubectl(state, *controlPlane, guestArgv("cordon", name)); !cordoned) {
            co_return cordoned.error();
        }
        auto drained = co_await kubectl(state, *controlPlane,
                                        guestArgv("drain", name, "--ignore-daemonsets",
                                                  "--delete-emptydir-data", "--timeout=" + drainTimeout));
        if (!drained) {
            // A PodDisruptionBudget or a slow pod: the node stays cordoned and is tried again.
            log::info("Kubernetes node not drained yet", {{"cluster", state.entry.cluster.id.str()},
                                                          {"node", name},
                                                          {"why", drained.error().message}});
            allGone = false;
            continue;
        }
        if (auto removed = co_await kubectl(state, *controlPlane,
                                            guestArgv("delete", "node", name, "--ignore-not-found"));
            !removed) {
            co_return removed.error();
        }
    }
    co_return allGone;
}

}  // namespace gpuhost::agent

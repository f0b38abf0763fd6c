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

constexpr std::string_view kControlPlane = kControlPlaneRole;
constexpr int kApiServerPort = 6443;

std::int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string minorOf(const kubernetes::KubernetesVersion& version) {
    return std::to_string(version.major) + "." + std::to_string(version.minor);
}

}  // namespace

KubernetesKind::KubernetesKind(const Catalog& catalog, KubernetesOptions options)
    : catalog_(catalog),
      options_(std::move(options)),
      guest_(options_.commandTimeout),
      upgrade_(guest_, options_.drainTimeout, options_.failedRollRecheck),
      nodes_(guest_, options_.drainTimeout) {}

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
    KubernetesProgress progress;
    progress.token = *token;
    progress.tokenIssuedAt = unixNow();
    progress.controlPlaneVersion = cluster.version;
    return serializeProgress(progress);
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

Result<void> KubernetesKind::validateChange(const ClusterEntry& before, const model::Cluster& after) const {
    if (before.cluster.version == after.version) {
        return {};
    }
    auto from = kubernetes::parseKubernetesVersion(before.cluster.version, "version");
    auto to = kubernetes::parseKubernetesVersion(after.version, "version");
    if (!from || !to) {
        return !from ? from.error() : to.error();
    }
    if (auto step = kubernetes::checkUpgradeStep(*from, *to, "version"); !step) {
        return step;
    }
    auto progress = parseProgress(before.kindState);
    if (!progress) {
        return progress.error();
    }
    if (KubernetesUpgrade::rolling(before.cluster, *progress)) {
        return Error::conflict("the upgrade to " + before.cluster.version +
                               " is still rolling; change the version again once it is done");
    }
    return {};
}

bool KubernetesKind::upgrading(const ClusterState& state) const {
    auto progress = parseProgress(state.entry.kindState);
    return progress && KubernetesUpgrade::rolling(state.entry.cluster, *progress);
}

bool KubernetesKind::upgradeStopped(const ClusterEntry& entry) const {
    auto progress = parseProgress(entry.kindState);
    return progress && !progress->stoppedOn.empty() && KubernetesUpgrade::rolling(entry.cluster, *progress);
}

void KubernetesKind::forget(const model::Uuid& cluster) {
    std::lock_guard lock(mutex_);
    pkis_.erase(cluster);
}

std::vector<RoleSlot> KubernetesKind::roles(const model::Cluster& cluster) const {
    return {{std::string(kControlPlane), 1, cluster.controllerType}};
}

std::string KubernetesKind::nodeName(const model::InstanceOwner& owner) const {
    return kubernetesNodeName(owner);
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
    auto failed = co_await guest_.exists(state, *controlPlane, kubernetes::kInitSteps.failed);
    if (!failed) {
        co_return failed.error().code == ErrorCode::Unavailable
            ? StepOutcome::waiting(initStep + " (booting)")
            : StepOutcome::transient(initStep, failed.error().message);
    }
    if (*failed) {
        auto tail = co_await guest_.logTail(state, *controlPlane, kubernetes::kInitSteps.log);
        co_return StepOutcome::fatal(initStep, "failed: " + tail);
    }
    auto done = co_await guest_.exists(state, *controlPlane, kubernetes::kInitSteps.done);
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
        auto joinFailed = co_await guest_.exists(state, member, kubernetes::kJoinSteps.failed);
        if (joinFailed && *joinFailed) {
            auto tail = co_await guest_.logTail(state, member, kubernetes::kJoinSteps.log);
            auto outcome = StepOutcome::fatal("kubeadm join on " + member.name, "failed: " + tail);
            if (*renewed) {
                outcome.kindState = serializeProgress(**renewed);
            }
            co_return outcome;
        }
        joining += (joining.empty() ? "" : ", ") + nodeName(*member.owner);
    }
    auto current = renewed->value_or(*progress);
    bool changed = renewed->has_value();
    auto outcome = StepOutcome::waiting("kubeadm join on " + joining);
    if (joining.empty()) {
        // Every node is in: roll a version change, if the spec asks for one.
        auto roll = co_await upgrade_.step(state, current, bootstrapOptions(state.entry.cluster));
        changed = changed || roll.progressChanged;
        outcome = roll.outcome ? std::move(*roll.outcome) : StepOutcome::finished("");
    }
    // The token is looked at again well before it expires, whatever else happens.
    auto tokenRecheck = std::max<std::chrono::milliseconds>(options_.tokenTtl / 4, std::chrono::seconds(1));
    outcome.recheckAfter = std::min(outcome.recheckAfter.value_or(tokenRecheck), tokenRecheck);
    if (changed) {
        outcome.kindState = serializeProgress(current);
    }
    co_return outcome;
}

asio::awaitable<Result<SchedulerReport>> KubernetesKind::observe(const ClusterState& state) {
    co_return co_await nodes_.observe(state);
}

asio::awaitable<Result<bool>> KubernetesKind::retire(const ClusterState& state,
                                                     const std::vector<Instance>& leaving) {
    co_return co_await nodes_.retire(state, leaving);
}

}  // namespace gpuhost::agent

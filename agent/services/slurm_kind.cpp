#include "services/slurm_kind.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include "bootstrap.hpp"
#include "log.hpp"
#include "munge_key.hpp"
#include "node_states.hpp"
#include "services/cluster_guest.hpp"
#include "services/slurm_users.hpp"
#include "slurm_conf.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Instance;
using model::InstanceState;
using model::Result;

namespace {

// A node Slurm can give jobs: a working base state and not unreachable.
bool takesWork(const std::vector<std::string>& states) {
    static const std::vector<std::string> kWorking = {"IDLE", "ALLOCATED", "MIXED", "COMPLETING"};
    return !states.empty() && std::find(kWorking.begin(), kWorking.end(), states.front()) != kWorking.end() &&
           std::find(states.begin(), states.end(), "NOT_RESPONDING") == states.end();
}

constexpr std::string_view kController = "controller";
constexpr std::string_view kLogin = "login";
const std::string kSlurmConf = "/etc/slurm/slurm.conf";

std::vector<slurm::NodeUser> nodeUsers(const model::Cluster& cluster) {
    std::vector<slurm::NodeUser> users;
    for (const auto& user : cluster.users) {
        users.push_back({user.username, user.uid, user.sshKeys, user.sudo});
    }
    return users;
}

bool isSafeNodeName(std::string_view name) {
    return !name.empty() && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

bool busy(const slurm::SlurmNode& node) {
    return node.hasState("ALLOCATED") || node.hasState("MIXED") || node.hasState("COMPLETING");
}

}  // namespace

SlurmKind::SlurmKind(const Catalog& catalog, SlurmOptions options)
    : catalog_(catalog), options_(std::move(options)) {}

Result<std::string> SlurmKind::newSecret() const {
    return slurm::mungeKey();
}

void SlurmKind::forget(const model::Uuid& cluster) {
    std::lock_guard lock(mutex_);
    controllerConf_.erase(cluster);
}

std::vector<RoleSlot> SlurmKind::roles(const model::Cluster& cluster) const {
    std::vector<RoleSlot> roles{{std::string(kController), 1, cluster.controllerType}};
    if (cluster.loginCount > 0) {
        roles.push_back({std::string(kLogin), cluster.loginCount, cluster.loginType});
    }
    return roles;
}

std::string SlurmKind::nodeName(const model::InstanceOwner& owner) const {
    if (!owner.nodePool.empty()) {
        return owner.nodePool + "-" + std::to_string(owner.index);
    }
    return owner.role == kLogin ? owner.role + "-" + std::to_string(owner.index) : owner.role;
}

Result<slurm::ClusterSpec> SlurmKind::specOf(const ClusterState& state,
                                             const std::string& controllerAddress) const {
    const auto& cluster = state.entry.cluster;
    slurm::ClusterSpec spec;
    spec.name = cluster.name;
    const auto* controller = state.memberWithRole(kController);
    spec.controllerHostname = controller != nullptr ? controller->name : cluster.name + "-controller";
    spec.controllerAddress = controllerAddress;
    spec.slurmVersion = cluster.version;
    for (const auto& pool : cluster.pools) {
        const auto* type = catalog_.findInstanceType(pool.type);
        if (type == nullptr) {
            return Error::invalid("nodePools", "unknown instance type " + pool.type);
        }
        slurm::PoolSpec poolSpec;
        poolSpec.name = pool.name;
        poolSpec.count = pool.count;
        poolSpec.cpus = type->cpu;
        poolSpec.memoryMiB = type->memoryBytes >> 20;
        poolSpec.gpuCount = type->gpuCount;
        poolSpec.gpuModel = type->gpuCount > 0 ? type->gpuModel : std::string();
        poolSpec.partitions = pool.partitions;
        spec.pools.push_back(std::move(poolSpec));
    }
    for (const auto& member : state.members) {
        if (member.owner && member.owner->role == kLogin) {
            spec.loginHosts.push_back(member.name);
        }
    }
    if (auto valid = slurm::validate(spec, {}); !valid) {
        return valid.error();
    }
    return spec;
}

Result<void> SlurmKind::validate(const model::Cluster& cluster) const {
    if (cluster.pools.empty()) {
        return Error::invalid("nodePools", "a Slurm cluster needs at least one node pool");
    }
    auto imageName = model::parseImageReference(options_.image);
    if (!imageName || catalog_.findImage(*imageName) == nullptr) {
        return Error{
            ErrorCode::Unavailable,
            "this region has no Slurm image (slurm.image " + options_.image + " is not among images:)",
            {}};
    }
    if (cluster.version != options_.version && !cluster.version.starts_with(options_.version + ".")) {
        return Error::invalid("version", "this region offers Slurm " + options_.version);
    }
    ClusterState state;
    state.entry.cluster = cluster;
    auto spec = specOf(state, "192.0.2.1");  // any address: only names and numbers are checked here
    if (!spec) {
        return spec.error();
    }
    if (auto partitions = slurm::partitions(*spec); !partitions) {
        return partitions.error();
    }
    return {};
}

Result<std::optional<cloudinit::Part>> SlurmKind::bootstrapPart(const ClusterState& state,
                                                                const Instance& member) const {
    const auto& owner = *member.owner;
    slurm::BootstrapOptions bootstrap;
    bootstrap.installPackages = options_.installPackages;
    auto users = nodeUsers(state.entry.cluster);
    if (owner.role == kController) {
        // Its own address is not known yet; the parts it gets do not name it.
        auto spec = specOf(state, member.name);
        if (!spec) {
            return spec.error();
        }
        auto part = slurm::controllerPart(*spec, {}, state.entry.secret, users, bootstrap);
        if (!part) {
            return part.error();
        }
        return std::optional<cloudinit::Part>(std::move(*part));
    }
    const auto* controller = state.memberWithRole(kController);
    if (controller == nullptr || !controller->ip) {
        return Error{ErrorCode::Unavailable, "waiting for the controller's address", {}};
    }
    auto spec = specOf(state, *controller->ip);
    if (!spec) {
        return spec.error();
    }
    auto part = owner.role == kLogin ? slurm::loginPart(*spec, {}, state.entry.secret, users, bootstrap)
                                     : slurm::nodePart(*spec, {}, owner.nodePool, owner.index,
                                                       state.entry.secret, users, bootstrap);
    if (!part) {
        return part.error();
    }
    return std::optional<cloudinit::Part>(std::move(*part));
}

asio::awaitable<StepOutcome> SlurmKind::configureController(const ClusterState& state,
                                                            const Instance& controller) {
    const auto& id = state.entry.cluster.id;
    auto spec = specOf(state, *controller.ip);
    if (!spec) {
        co_return StepOutcome::fatal("generating slurm.conf", spec.error().message);
    }
    auto conf = slurm::slurmConf(*spec);
    if (!conf) {
        co_return StepOutcome::fatal("generating slurm.conf", conf.error().message);
    }
    {
        std::lock_guard lock(mutex_);
        if (controllerConf_[id] == *conf) {
            co_return StepOutcome::finished("slurmctld running");
        }
    }
    auto guest = state.guestOf(controller);
    if (!guest) {
        co_return StepOutcome::transient("configuring the controller", "its host is not configured");
    }
    // The munge key, gres.conf and cgroup.conf come with cloud-init's write_files (init stage
    // on an image with Slurm; after the packages otherwise): the key is the last of them.
    // Waiting for it, not for all of cloud-init, starts slurmctld about a minute sooner under TCG.
    auto key =
        co_await exec(*guest, guestArgv("test", "-s", "/etc/munge/munge.key"), {}, options_.commandTimeout);
    if (!key) {
        if (key.error().code == ErrorCode::Unavailable) {
            co_return StepOutcome::waiting("waiting for the controller's guest agent");
        }
        co_return StepOutcome::transient("waiting for the munge key on the controller", key.error().message);
    }
    if (!key->succeeded()) {
        co_return StepOutcome::waiting("waiting for cloud-init to write the munge key on the controller");
    }
    // slurmctld refuses to run on a host whose name is not SlurmctldHost; cloud-init sets it
    // just after write_files.
    auto hostname = co_await exec(*guest, guestArgv("hostname"), {}, options_.commandTimeout);
    if (!hostname || !hostname->succeeded() || hostname->stdOut != controller.name + "\n") {
        co_return StepOutcome::waiting("waiting for cloud-init to set the controller's hostname");
    }
    // munged started at boot without a key and gave up: start it with the cluster's.
    auto mungeUp = co_await exec(*guest, guestArgv("systemctl", "is-active", "--quiet", "munge"), {},
                                 options_.commandTimeout);
    if (!mungeUp || !mungeUp->succeeded()) {
        if (auto munge = co_await runInMember(state, controller, guestArgv("systemctl", "restart", "munge"),
                                              options_.commandTimeout);
            !munge) {
            co_return StepOutcome::transient("starting munge on the controller", munge.error().message);
        }
    }
    auto current = co_await exec(*guest, guestArgv("cat", kSlurmConf), {}, options_.commandTimeout);
    bool same = current && current->succeeded() && current->stdOut == *conf;
    if (!same) {
        auto written = co_await writeFile(*guest, guestFile(kSlurmConf, *conf, 0644, "root", "root"));
        if (!written) {
            co_return StepOutcome::transient("writing slurm.conf on the controller", written.error().message);
        }
    }
    auto active = co_await exec(*guest, guestArgv("systemctl", "is-active", "--quiet", "slurmctld"), {},
                                options_.commandTimeout);
    bool running = active && active->succeeded();
    auto argv = running ? guestArgv("scontrol", "reconfigure")
                        : guestArgv("systemctl", "enable", "--now", "slurmctld");
    if (!running || !same) {
        auto started = co_await runInMember(state, controller, argv, options_.commandTimeout);
        if (!started) {
            co_return StepOutcome::transient("starting slurmctld", started.error().message);
        }
    }
    {
        std::lock_guard lock(mutex_);
        controllerConf_[id] = *conf;
    }
    log::info("slurm controller configured", {{"cluster", id.str()}, {"address", *controller.ip}});
    co_return StepOutcome::finished("slurmctld running");
}

asio::awaitable<StepOutcome> SlurmKind::bootstrap(const ClusterState& state) {
    const auto* controller = state.memberWithRole(kController);
    if (controller == nullptr || controller->state != InstanceState::Running || !controller->ip) {
        co_return StepOutcome::finished("waiting for the controller VM");
    }
    auto configured = co_await configureController(state, *controller);
    if (!configured.done) {
        co_return configured;
    }
    auto outcome = StepOutcome::finished(configured.step);
    std::map<model::Uuid, std::map<std::string, model::ClusterUser>> usersOn = state.entry.progress.usersOn;
    for (const auto& member : state.members) {
        if (member.state != InstanceState::Running) {
            usersOn.erase(member.id);  // a stopped or new VM is checked again when it runs
            continue;
        }
        auto guest = state.guestOf(member);
        if (!guest) {
            continue;
        }
        auto applied = co_await applyUsers(*guest, state.entry.cluster.users, usersOn[member.id],
                                           options_.commandTimeout);
        usersOn[member.id] = std::move(applied.applied);
        if (applied.unreachable) {
            auto waiting = StepOutcome::waiting("waiting for the guest agent of " + member.name);
            waiting.usersOn = std::move(usersOn);
            co_return waiting;
        }
        if (!applied.problem.empty()) {
            outcome.done = false;
            outcome.retrySoon = true;
            outcome.step = "applying users on " + member.name;
            outcome.problem = applied.problem;
            break;
        }
    }
    outcome.usersOn = std::move(usersOn);
    co_return outcome;
}

asio::awaitable<Result<SchedulerReport>> SlurmKind::observe(const ClusterState& state) {
    const auto* controller = state.memberWithRole(kController);
    if (controller == nullptr || controller->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the controller is not running", {}};
    }
    auto text =
        co_await runInMember(state, *controller, guestArgv("sinfo", "--json"), options_.commandTimeout);
    if (!text) {
        co_return Error{ErrorCode::Unavailable, text.error().message, {}};
    }
    auto sinfo = slurm::parseSinfoJson(*text);
    if (!sinfo) {
        co_return sinfo.error();
    }
    std::map<std::string, std::vector<std::string>> reservations;
    if (auto res = co_await runInMember(state, *controller, guestArgv("scontrol", "show", "res", "-o"),
                                        options_.commandTimeout)) {
        if (auto parsed = slurm::parseReservations(*res)) {
            reservations = slurm::reservationsByNode(*parsed);
        }
    }
    std::set<std::string> members;
    for (const auto& member : state.members) {
        if (member.owner && !member.owner->nodePool.empty() && member.state != InstanceState::Deleting) {
            members.insert(nodeName(*member.owner));
        }
    }
    SchedulerReport report;
    report.version = sinfo->slurmVersion;
    for (const auto& node : sinfo->nodes) {
        if (!members.contains(node.name)) {
            // A node with no VM behind it (a crash between its VM's delete and its removal, or
            // a VM deleted from outside): take it out so sinfo lists only real nodes.
            if (isSafeNodeName(node.name) && !busy(node)) {
                auto removed = co_await runInMember(state, *controller,
                                                    guestArgv("scontrol", "delete", "nodename=" + node.name),
                                                    options_.commandTimeout);
                log::info("removed a Slurm node with no VM",
                          {{"cluster", state.entry.cluster.id.str()},
                           {"node", node.name},
                           {"ok", removed ? "true" : removed.error().message}});
            }
            continue;
        }
        NodeReport entry;
        // Every node of ours is dynamic: DYNAMIC_NORM says nothing a user needs.
        std::copy_if(node.states.begin(), node.states.end(), std::back_inserter(entry.states),
                     [](const std::string& state) { return state != "DYNAMIC_NORM"; });
        entry.version = node.slurmdVersion;
        entry.partitions = node.partitions;
        if (!node.reason.empty()) {
            entry.reason = node.reason;
        }
        if (auto it = reservations.find(node.name); it != reservations.end() && !it->second.empty()) {
            entry.reservation = it->second.front();
        }
        entry.ready = takesWork(entry.states);
        report.nodes[node.name] = std::move(entry);
    }
    co_return report;
}

asio::awaitable<Result<bool>> SlurmKind::retire(const ClusterState& state,
                                                const std::vector<Instance>& leaving) {
    std::vector<std::string> names;
    for (const auto& member : leaving) {
        if (member.owner && !member.owner->nodePool.empty()) {
            names.push_back(nodeName(*member.owner));
        }
    }
    const auto* controller = state.memberWithRole(kController);
    if (names.empty() || controller == nullptr || controller->state == InstanceState::Deleting ||
        controller->state == InstanceState::OutOfStock || controller->state == InstanceState::Failed) {
        co_return true;  // no slurmctld that could know them (a later ghost sweep catches stragglers)
    }
    if (controller->state != InstanceState::Running) {
        co_return Error{ErrorCode::Unavailable, "the controller is not running", {}};
    }
    auto text =
        co_await runInMember(state, *controller, guestArgv("sinfo", "--json"), options_.commandTimeout);
    if (!text) {
        // slurmctld not up yet: no node can have registered; the ghost sweep covers a race.
        bool everAnswered = state.entry.progress.report.has_value();
        if (everAnswered) {
            co_return Error{ErrorCode::Unavailable, text.error().message, {}};
        }
        co_return true;
    }
    auto sinfo = slurm::parseSinfoJson(*text);
    if (!sinfo) {
        co_return sinfo.error();
    }
    bool allGone = true;
    for (const auto& name : names) {
        auto node = std::find_if(sinfo->nodes.begin(), sinfo->nodes.end(),
                                 [&](const slurm::SlurmNode& n) { return n.name == name; });
        if (node == sinfo->nodes.end()) {
            continue;
        }
        if (!node->hasState("DRAIN")) {
            auto drained = co_await runInMember(state, *controller,
                                                guestArgv("scontrol", "update", "nodename=" + name,
                                                          "state=drain", "reason=gpuhost-scale-down"),
                                                options_.commandTimeout);
            if (!drained) {
                co_return drained.error();
            }
        }
        if (busy(*node)) {
            allGone = false;  // its jobs finish first
            continue;
        }
        auto removed = co_await runInMember(
            state, *controller, guestArgv("scontrol", "delete", "nodename=" + name), options_.commandTimeout);
        if (!removed) {
            co_return removed.error();
        }
    }
    co_return allGone;
}

}  // namespace gpuhost::agent

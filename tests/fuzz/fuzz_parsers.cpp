// libFuzzer: the small parsers that see user text — sizes, names, tags, UUIDs, the
// cloud-init MIME merge, libvirt metadata, Kubernetes cluster bodies — and those that read
// what a cluster's guests print (sinfo --json, scontrol, hostlists, getent passwd:
// untrusted, a user is root there) must never crash, and what they accept must round-trip
// (UUIDs, versions, CIDR blocks) or stay well-formed (sizes, MIME).
#include <cstdint>
#include <string>

#include "json_mapping.hpp"
#include "kubernetes_mapping.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "model/cidr.hpp"
#include "model/validation.hpp"
#include "node_states.hpp"
#include "seed.hpp"
#include "services/slurm_users.hpp"
#include "version.hpp"

using namespace gpuhost;

namespace {

// A normalized block: empty (left to the region) or a CIDR that parses back to itself.
bool normalizedBlock(const std::string& text) {
    auto block = model::parseIpv4Cidr(text, "block");
    return text.empty() || (block && block->text() == text);
}

// Normalized blocks, at least one given, that do not overlap.
bool wellFormed(const model::KubernetesNetwork& network) {
    if (!normalizedBlock(network.podCidr) || !normalizedBlock(network.serviceCidr)) {
        return false;
    }
    auto pods = model::parseIpv4Cidr(network.podCidr, "pods");
    auto services = model::parseIpv4Cidr(network.serviceCidr, "services");
    return (pods || services) && !(pods && services && pods->overlaps(*services));
}

// What the Kubernetes parsers accept is what the service is promised: "1.32.5" (no "v"),
// normalized blocks that do not overlap, at most one pool within the parsed limits.
void kubernetesBodies(const std::string& text) {
    auto body = api::parseJsonObject(text);
    if (!body) {
        return;
    }
    auto sameVersion = [](const std::string& version) {
        auto parsed = kubernetes::parseKubernetesVersion(version, "version");
        return parsed && parsed->text() == version;
    };
    if (auto create = api::parseCreateKubernetesCluster(*body)) {
        if (!sameVersion(create->version) || create->pools.size() > 1 ||
            (create->network && !wellFormed(*create->network))) {
            __builtin_trap();
        }
        for (const auto& pool : create->pools) {
            if (pool.count > api::kMaxParsedPoolCount || !pool.partitions.empty()) {
                __builtin_trap();
            }
        }
    }
    if (auto version = api::parseKubernetesClusterPatch(*body); version && !sameVersion(*version)) {
        __builtin_trap();
    }
    if (auto pool = api::parseKubernetesPool(*body); pool && !pool->partitions.empty()) {
        __builtin_trap();
    }
    if (auto count = api::parsePoolScale(*body); count && *count > api::kMaxParsedPoolCount) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    if (auto bytes = model::parseBinarySize(text, "size");
        bytes.ok() && model::formatBinarySize(*bytes).empty()) {
        __builtin_trap();
    }
    (void)model::validateProjectName(text);
    (void)model::validateResourceName(text);
    (void)model::validateTags({{text, text}});
    if (auto id = model::Uuid::parse(text); id && model::Uuid::parse(id->str()) != id) {
        __builtin_trap();
    }
    cloudinit::Part part{"text/cloud-config", "agent.cfg", "#cloud-config\nmounts: []\n"};
    auto merged = cloudinit::userData(text, {part});
    if (merged.ok() && !merged->ends_with("--\n")) {
        __builtin_trap();  // every merged message is closed by its final boundary
    }
    (void)drivers::libvirt::parseManagedMetadata(text);
    (void)slurm::parseSinfoJson(text);
    (void)slurm::parseScontrolNodes(text);
    if (auto reservations = slurm::parseReservations(text)) {
        (void)slurm::reservationsByNode(*reservations);
    }
    if (auto hosts = slurm::expandHostlist(text); hosts && hosts->size() > 65536) {
        __builtin_trap();  // the documented cap
    }
    for (const auto& [name, uid] : agent::clusterAccounts(text)) {
        if (uid < model::kFirstClusterUid || uid > 59999 || name.find(':') != std::string::npos) {
            __builtin_trap();  // only the agent's own accounts, by name
        }
    }
    kubernetesBodies(text);
    return 0;
}

// libFuzzer: the small parsers that see user text — sizes, names, tags, UUIDs, the
// cloud-init MIME merge and libvirt metadata — and those that read what a cluster's guests
// print (sinfo --json, scontrol, hostlists, getent passwd: untrusted, a user is root there)
// must never crash, and what they accept must round-trip (UUIDs) or stay well-formed
// (sizes, MIME).
#include <cstdint>
#include <string>

#include "libvirt/libvirt_hypervisor.hpp"
#include "model/validation.hpp"
#include "node_states.hpp"
#include "seed.hpp"
#include "services/slurm_users.hpp"

using namespace gpuhost;

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
    return 0;
}

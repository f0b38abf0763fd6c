// libFuzzer: the small parsers that see user text — sizes, names, tags, UUIDs, the
// cloud-init MIME merge and libvirt metadata — must never crash, and what they accept
// must round-trip (UUIDs) or stay well-formed (sizes, MIME).
#include <cstdint>
#include <string>

#include "libvirt/libvirt_hypervisor.hpp"
#include "model/validation.hpp"
#include "seed.hpp"

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
    return 0;
}

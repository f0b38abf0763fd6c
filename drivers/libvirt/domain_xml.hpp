#pragma once

#include <cstdint>
#include <string>

#include "model/uuid.hpp"

namespace gpuhost::drivers::libvirt {

enum class Accelerator { Kvm, Tcg };

/// Everything a domain definition needs, already validated and resolved to paths.
/// No field is taken from a user without validation: names are derived from ids,
/// `hostname` is a validated resource name and goes into <metadata> only.
struct DomainSpec {
    model::Uuid instanceId;
    model::Uuid projectId;
    std::string hostname;
    unsigned vcpus = 1;
    std::uint64_t memoryBytes = 0;
    Accelerator accelerator = Accelerator::Kvm;
    unsigned tcgCacheMiB = 0;  // TCG only: translation-block cache (0: QEMU's default)
    std::string rootDisk;      // qcow2 overlay
    std::string seedIso;     // NoCloud seed (label cidata), on virtio-scsi: Debian's cloud kernel has no AHCI
    std::string consoleLog;  // the serial console, logged to a file
    std::string macAddress;  // fixed, so network-config can match on it
    std::string network = "default";  // libvirt network, unless `bridge` is set
    std::string bridge;
    std::string kernel;  // direct kernel boot when set
    std::string initrd;
    std::string cmdline;
};

/// The libvirt domain name for an instance: never derived from user input.
std::string domainName(const model::Uuid& instanceId);

/// A locally administered MAC in QEMU's 52:54:00 range, stable for the instance.
std::string macAddressFor(const model::Uuid& instanceId);

/// The namespace of gpuhost's <metadata> element (how reconcile recognises its domains).
inline constexpr const char* kMetadataNamespace = "https://gpuhost.dev/xmlns/instance/1";

/// A pure function: the same spec always gives the same XML (golden-file tested and
/// validated against libvirt's schema with virt-xml-validate).
std::string buildDomainXml(const DomainSpec& spec);

/// Escapes text for XML element content and attribute values.
std::string xmlEscape(std::string_view text);

}  // namespace gpuhost::drivers::libvirt

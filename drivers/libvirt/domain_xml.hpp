#pragma once

#include <cstdint>
#include <string>

#include "hypervisor.hpp"
#include "model/uuid.hpp"

namespace gpuhost::drivers::libvirt {

using drivers::Accelerator;
using drivers::domainName;
using drivers::DomainSpec;
using drivers::macAddressFor;

/// The namespace of gpuhost's <metadata> element (how reconcile recognises its domains).
inline constexpr const char* kMetadataNamespace = "https://gpuhost.dev/xmlns/instance/1";

/// A pure function: the same spec always gives the same XML (golden-file tested and
/// validated against libvirt's schema with virt-xml-validate).
std::string buildDomainXml(const DomainSpec& spec);

/// Escapes text for XML element content and attribute values.
std::string xmlEscape(std::string_view text);

}  // namespace gpuhost::drivers::libvirt

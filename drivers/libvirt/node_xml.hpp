#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "hypervisor.hpp"
#include "model/gpu.hpp"

namespace gpuhost::drivers::libvirt {

/// A PCI node device from `virNodeDeviceGetXMLDesc`; nullopt for other devices or
/// malformed XML.
std::optional<model::PciDevice> parsePciDeviceXml(std::string_view xml);

/// The host's NUMA cells from `virConnectGetCapabilities` (empty when not reported).
std::vector<NumaCell> parseNumaCells(std::string_view capabilitiesXml);

/// The PCI host devices a domain's XML passes through.
std::vector<model::PciAddress> parseHostDevices(std::string_view domainXml);

}  // namespace gpuhost::drivers::libvirt

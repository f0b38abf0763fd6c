#pragma once

#include <optional>
#include <string>
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

/// The backing file of a storage volume from `virStorageVolGetXMLDesc` (empty: none).
std::string parseVolumeBackingPath(std::string_view volumeXml);

}  // namespace gpuhost::drivers::libvirt

// Reading libvirt's node-device, capabilities and domain XML (Boost.PropertyTree).
#include "libvirt/node_xml.hpp"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <string>

namespace gpuhost::drivers::libvirt {

namespace pt = boost::property_tree;

namespace {

std::optional<pt::ptree> parseXml(std::string_view text) {
    pt::ptree tree;
    std::istringstream in{std::string(text)};
    try {
        pt::read_xml(in, tree, pt::xml_parser::no_comments);
    } catch (const pt::ptree_error&) {
        return std::nullopt;
    }
    return tree;
}

// "0x10de" or "24": libvirt writes ids in hex, positions in decimal.
std::optional<unsigned long> number(const pt::ptree& tree, const char* path, unsigned long max) {
    auto text = tree.get_optional<std::string>(path);
    if (!text || text->empty()) {
        return std::nullopt;
    }
    errno = 0;
    char* end = nullptr;
    auto value = std::strtoul(text->c_str(), &end, 0);
    if (errno != 0 || *end != '\0' || value > max || text->front() == '-') {
        return std::nullopt;
    }
    return value;
}

std::optional<model::PciAddress> addressOf(const pt::ptree& element) {
    auto domain = number(element, "<xmlattr>.domain", 0xffff);
    auto bus = number(element, "<xmlattr>.bus", 0xff);
    auto slot = number(element, "<xmlattr>.slot", 0x1f);
    auto function = number(element, "<xmlattr>.function", 7);
    if (!domain || !bus || !slot || !function) {
        return std::nullopt;
    }
    return model::PciAddress{static_cast<std::uint32_t>(*domain), static_cast<std::uint8_t>(*bus),
                             static_cast<std::uint8_t>(*slot), static_cast<std::uint8_t>(*function)};
}

}  // namespace

std::optional<model::PciDevice> parsePciDeviceXml(std::string_view xml) {
    auto tree = parseXml(xml);
    if (!tree) {
        return std::nullopt;
    }
    const auto* capability = static_cast<const pt::ptree*>(nullptr);
    for (const auto& [key, child] : tree->get_child("device", pt::ptree())) {
        if (key == "capability" && child.get<std::string>("<xmlattr>.type", "") == "pci") {
            capability = &child;
        }
    }
    if (capability == nullptr) {
        return std::nullopt;
    }
    model::PciDevice device;
    device.name = tree->get<std::string>("device.name", "");
    device.parent = tree->get<std::string>("device.parent", "");
    auto domain = number(*capability, "domain", 0xffff);
    auto bus = number(*capability, "bus", 0xff);
    auto slot = number(*capability, "slot", 0x1f);
    auto function = number(*capability, "function", 7);
    auto vendor = number(*capability, "vendor.<xmlattr>.id", 0xffff);
    auto product = number(*capability, "product.<xmlattr>.id", 0xffff);
    if (device.name.empty() || !domain || !bus || !slot || !function || !vendor || !product) {
        return std::nullopt;
    }
    device.address =
        model::PciAddress{static_cast<std::uint32_t>(*domain), static_cast<std::uint8_t>(*bus),
                          static_cast<std::uint8_t>(*slot), static_cast<std::uint8_t>(*function)};
    device.vendorId = static_cast<std::uint16_t>(*vendor);
    device.productId = static_cast<std::uint16_t>(*product);
    device.classCode = static_cast<std::uint32_t>(number(*capability, "class", 0xffffff).value_or(0));
    auto numa = number(*capability, "numa.<xmlattr>.node", 1023);
    device.numaNode = numa ? static_cast<int>(*numa) : -1;
    if (auto group = capability->get_child_optional("iommuGroup")) {
        auto id = number(*group, "<xmlattr>.number", 1u << 20);
        device.iommuGroup = id ? static_cast<int>(*id) : -1;
        for (const auto& [key, member] : *group) {
            if (key == "address") {
                if (auto address = addressOf(member)) {
                    device.iommuGroupMembers.push_back(*address);
                }
            }
        }
    }
    return device;
}

std::vector<NumaCell> parseNumaCells(std::string_view capabilitiesXml) {
    std::vector<NumaCell> cells;
    auto tree = parseXml(capabilitiesXml);
    if (!tree) {
        return cells;
    }
    for (const auto& [key, cell] : tree->get_child("capabilities.host.topology.cells", pt::ptree())) {
        if (key != "cell") {
            continue;
        }
        NumaCell parsed;
        auto id = number(cell, "<xmlattr>.id", 1023);
        auto memoryKiB = number(cell, "memory", ~0ul >> 10);
        if (!id) {
            continue;
        }
        parsed.id = static_cast<int>(*id);
        parsed.memoryBytes = memoryKiB ? static_cast<std::uint64_t>(*memoryKiB) << 10 : 0;
        for (const auto& [cpuKey, cpu] : cell.get_child("cpus", pt::ptree())) {
            if (cpuKey == "cpu") {
                if (auto cpuId = number(cpu, "<xmlattr>.id", 1u << 20)) {
                    parsed.cpus.push_back(static_cast<unsigned>(*cpuId));
                }
            }
        }
        cells.push_back(std::move(parsed));
    }
    return cells;
}

std::vector<model::PciAddress> parseHostDevices(std::string_view domainXml) {
    std::vector<model::PciAddress> devices;
    auto tree = parseXml(domainXml);
    if (!tree) {
        return devices;
    }
    for (const auto& [key, hostdev] : tree->get_child("domain.devices", pt::ptree())) {
        if (key == "hostdev" && hostdev.get<std::string>("<xmlattr>.type", "") == "pci") {
            if (auto source = hostdev.get_child_optional("source.address")) {
                if (auto address = addressOf(*source)) {
                    devices.push_back(*address);
                }
            }
        }
    }
    return devices;
}

std::string parseVolumeBackingPath(std::string_view volumeXml) {
    try {
        boost::property_tree::ptree tree;
        std::istringstream in{std::string(volumeXml)};
        boost::property_tree::read_xml(in, tree);
        return tree.get<std::string>("volume.backingStore.path", "");
    } catch (const boost::property_tree::ptree_error&) {
        return {};
    }
}

}  // namespace gpuhost::drivers::libvirt

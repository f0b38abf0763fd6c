// Hostile text through the pure generators: the domain XML and the cloud-init files keep
// their structure, and the text comes back out of a parser exactly as it went in.
// Driven by tests/fixtures/bad-input/hostile-strings.txt: a new line there is a new check.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <sstream>

#include "hostile_strings.hpp"
#include "libvirt/domain_xml.hpp"
#include "model/validation.hpp"
#include "seed.hpp"

using namespace gpuhost;
using gpuhost::test::HostileString;
namespace pt = boost::property_tree;

namespace {

const auto kInstance = *model::Uuid::parse("6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f");
const std::string kBoundary = "==gpuhost.part.boundary==";

std::string printable(const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) {
        char hex[5];
        std::snprintf(hex, sizeof(hex), "\\x%02x", c);
        out += (c >= 0x20 && c < 0x7F) ? std::string(1, static_cast<char>(c)) : std::string(hex);
    }
    return out;
}

// What a conforming XML parser (libxml2, as libvirt uses) sees: rapidxml skips XML 1.0's
// line-end handling (§2.11) and attribute-value normalisation (§3.3.3), so apply them
// first. Escaped values hold no raw quote or '>', so the tag scan is exact.
std::string conformingView(const std::string& xml) {
    std::string out;
    bool inTag = false;
    char quote = 0;
    for (std::size_t i = 0; i < xml.size(); ++i) {
        char c = xml[i];
        if (c == '\r') {
            c = '\n';
            if (i + 1 < xml.size() && xml[i + 1] == '\n') {
                ++i;
            }
        }
        if (quote != 0) {
            quote = c == quote ? 0 : quote;
            out += (c == '\n' || c == '\t') ? ' ' : c;
            continue;
        }
        inTag = c == '<' ? true : c == '>' ? false : inTag;
        quote = inTag && (c == '\'' || c == '"') ? c : 0;
        out += c;
    }
    return out;
}

pt::ptree parseXml(const std::string& xml) {
    std::istringstream in(conformingView(xml));
    pt::ptree tree;
    pt::read_xml(in, tree);  // throws on anything that is not well-formed
    return tree;
}

// Element and attribute names, nested; no text. Equal shapes: nothing was injected.
std::string shapeOf(const pt::ptree& tree) {
    std::string shape;
    for (const auto& [name, child] : tree) {
        shape += name + "(" + shapeOf(child) + ")";
    }
    return shape;
}

drivers::DomainSpec specWith(const std::string& text) {
    drivers::DomainSpec spec;
    spec.instanceId = kInstance;
    spec.hostname = text;
    spec.vcpus = 1;
    spec.memoryBytes = 1ull << 30;
    spec.rootDisk = "/pool/" + text + "-root.qcow2";
    spec.seedIso = "/pool/" + text + "-seed.iso";
    spec.consoleLog = "/console/" + text + ".log";
    spec.macAddress = drivers::macAddressFor(kInstance);
    spec.sharedDirectories.push_back({kInstance.str(), "/filesystems/" + text});
    return spec;
}

std::string base64Decode(std::string text) {
    std::erase(text, '\n');
    std::string out(text.size(), '\0');
    int n =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(std::max(n, 0)));
    for (auto at = text.size(); at > 0 && text[at - 1] == '='; --at) {
        out.pop_back();  // EVP_DecodeBlock counts padding as zero bytes
    }
    return out;
}

struct Mime {
    std::string preamble;                                    // the message's own headers
    std::vector<std::pair<std::string, std::string>> parts;  // headers, decoded body
    std::size_t delimiters = 0;
};

// Splits on every line that starts with the boundary, as a MIME parser would.
Mime parseMime(const std::string& message) {
    Mime mime;
    std::string delimiter = "\n--" + kBoundary;
    auto at = message.find(delimiter);
    mime.preamble = message.substr(0, at);
    while (at != std::string::npos) {
        ++mime.delimiters;
        auto start = at + delimiter.size();
        auto next = message.find(delimiter, start);
        if (message.compare(start, 2, "--") != 0) {
            std::string chunk = message.substr(start + 1, next - start - 1);
            auto split = chunk.find("\n\n");
            mime.parts.emplace_back(chunk.substr(0, split), base64Decode(chunk.substr(split + 2)));
        }
        at = next;
    }
    return mime;
}

std::string yamlShape(const YAML::Node& node) {
    std::string shape;
    if (node.IsMap()) {
        for (const auto& entry : node) {
            shape += entry.first.as<std::string>() + "{" + yamlShape(entry.second) + "}";
        }
    } else if (node.IsSequence()) {
        shape += "[" + std::to_string(node.size()) + "]";
    }
    return shape;
}

}  // namespace

TEST_CASE("injection: hostile strings leave the domain XML's element tree alone and round-trip") {
    const auto strings = test::loadHostileStrings();
    REQUIRE(strings.size() > 20);
    const auto benign = parseXml(drivers::libvirt::buildDomainXml(specWith("web-1")));
    std::size_t carried = 0;
    for (const auto& hostile : strings) {
        CAPTURE(hostile.line);
        CAPTURE(printable(hostile.bytes));
        if (!test::xmlCanCarry(hostile.bytes)) {
            // XML 1.0 has no way to write these; the only user text in the XML (the
            // hostname) is a validated resource name, which must refuse them.
            CHECK_FALSE(model::validateResourceName(hostile.bytes, "name").ok());
            continue;
        }
        ++carried;
        auto spec = specWith(hostile.bytes);
        pt::ptree tree;
        REQUIRE_NOTHROW(tree = parseXml(drivers::libvirt::buildDomainXml(spec)));
        CHECK(shapeOf(tree) == shapeOf(benign));
        const auto& domain = tree.get_child("domain");
        CHECK(domain.get<std::string>("metadata.gpuhost:instance.gpuhost:hostname") == spec.hostname);
        CHECK(domain.get<std::string>("devices.disk.source.<xmlattr>.file") == spec.rootDisk);
        CHECK(domain.get<std::string>("devices.serial.log.<xmlattr>.file") == spec.consoleLog);
        CHECK(domain.get<std::string>("devices.filesystem.source.<xmlattr>.dir") ==
              spec.sharedDirectories.front().source);
        std::string seed;
        for (const auto& [name, disk] : domain.get_child("devices")) {
            if (name == "disk" && disk.get<std::string>("<xmlattr>.device") == "cdrom") {
                seed = disk.get<std::string>("source.<xmlattr>.file");
            }
        }
        CHECK(seed == spec.seedIso);
    }
    CHECK(carried > 10);  // the fixture must keep exercising the escaping itself
}

TEST_CASE("injection: hostile userData is carried byte for byte in its own MIME part") {
    auto mounts = cloudinit::mountPart({{kInstance.str(), "datasets"}});
    REQUIRE(mounts.has_value());
    auto benignText = cloudinit::userData("#cloud-config\nhostname: x\n", {*mounts});
    REQUIRE(benignText.ok());
    const auto benign = parseMime(*benignText);
    REQUIRE(benign.parts.size() == 2);
    const std::string agentYamlShape = yamlShape(YAML::Load(mounts->content));
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        CAPTURE(printable(hostile.bytes));
        auto alone = cloudinit::userData(hostile.bytes, {});
        REQUIRE(alone.ok());
        CHECK(*alone == hostile.bytes);  // no agent parts: passed through unchanged

        auto merged = cloudinit::userData(hostile.bytes, {*mounts});
        auto type = cloudinit::contentTypeOf(hostile.bytes);
        if (type == "multipart/mixed" || type == "application/x-gzip") {
            REQUIRE_FALSE(merged.ok());
            CHECK(merged.error().field == "userData");
            continue;
        }
        REQUIRE(merged.ok());
        auto mime = parseMime(*merged);
        CHECK(mime.preamble == benign.preamble);
        CHECK(mime.delimiters == benign.delimiters);
        REQUIRE(mime.parts.size() == 2);
        CHECK(mime.parts[0].first.starts_with("Content-Type: " + type + ";"));
        auto afterType = [](const std::string& headers) { return headers.substr(headers.find('\n')); };
        CHECK(afterType(mime.parts[0].first) == afterType(benign.parts[0].first));
        CHECK(mime.parts[0].second == hostile.bytes);
        CHECK(mime.parts[1] == benign.parts[1]);
        CHECK(yamlShape(YAML::Load(mime.parts[1].second)) == agentYamlShape);
    }
}

TEST_CASE("injection: meta-data and network-config keep their keys, values round-trip") {
    const std::string metaShape = yamlShape(YAML::Load(cloudinit::metaData(kInstance, "web-1")));
    const std::string networkShape = yamlShape(YAML::Load(cloudinit::networkConfig("52:54:00:4d:5e:6f")));
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        CAPTURE(printable(hostile.bytes));
        YAML::Node meta, network;
        REQUIRE_NOTHROW(meta = YAML::Load(cloudinit::metaData(kInstance, hostile.bytes)));
        REQUIRE_NOTHROW(network = YAML::Load(cloudinit::networkConfig(hostile.bytes)));
        CHECK(yamlShape(meta) == metaShape);
        CHECK(yamlShape(network) == networkShape);
        CHECK(meta["instance-id"].as<std::string>() == kInstance.str());
        CHECK(network["ethernets"]["eth0"]["set-name"].as<std::string>() == "eth0");
        if (!test::yamlCanCarry(hostile.bytes)) {
            // Not Unicode, so no YAML can hold it; the hostname is a validated name.
            CHECK_FALSE(model::validateResourceName(hostile.bytes, "name").ok());
            continue;
        }
        CHECK(meta["local-hostname"].as<std::string>() == hostile.bytes);
        CHECK(network["ethernets"]["eth0"]["match"]["macaddress"].as<std::string>() == hostile.bytes);
    }
}

TEST_CASE("injection: the mount part only ever holds names the validator accepted") {
    // mountPart writes names into YAML and fstab unquoted: safe only because every
    // filesystem name passed validateResourceName. Each hostile string must fail it,
    // and an accepted name must leave the part's structure as it is.
    auto benign = cloudinit::mountPart({{kInstance.str(), "datasets"}});
    REQUIRE(benign.has_value());
    const std::string shape = yamlShape(YAML::Load(benign->content));
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        CAPTURE(printable(hostile.bytes));
        CHECK_FALSE(model::validateResourceName(hostile.bytes, "name").ok());
    }
    for (const std::string& name : std::vector<std::string>{"a", "datasets", "x-1", std::string(63, 'z')}) {
        REQUIRE(model::validateResourceName(name, "name").ok());
        auto part = cloudinit::mountPart({{kInstance.str(), name}});
        auto yaml = YAML::Load(part->content);
        CHECK(yamlShape(yaml) == shape);
        CHECK(yaml["bootcmd"][0][4].as<std::string>() == "/mnt/" + name);
    }
}

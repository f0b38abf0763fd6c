#include "node_list.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gpuhost::kubernetes {

namespace {

using model::Error;
using model::ErrorCode;
using model::Result;
using nlohmann::json;

constexpr std::size_t kMaxInput = 64 << 20;  // thousands of nodes with their image lists
constexpr std::size_t kMaxCountDigits = 4;

Error malformed(const std::string& what) {
    return Error{ErrorCode::Internal, "node list: " + what, {}};
}

const json* member(const json& object, const char* key) {
    if (!object.is_object()) {
        return nullptr;
    }
    auto found = object.find(key);
    return found == object.end() ? nullptr : &*found;
}

std::string text(const json& object, const char* key) {
    const json* value = member(object, key);
    return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

const json& child(const json& object, const char* key) {
    static const json kNone;
    const json* value = member(object, key);
    return value != nullptr ? *value : kNone;
}

Labels stringMap(const json& object) {
    Labels out;
    if (object.is_object()) {
        for (const auto& [key, value] : object.items()) {
            if (value.is_string()) {
                out[key] = value.get<std::string>();
            }
        }
    }
    return out;
}

// A whole-number count ("8"); 0 for anything else (a quantity like "1k" is no GPU count).
unsigned count(const std::string& text) {
    if (text.empty() || text.size() > kMaxCountDigits ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return 0;
    }
    return static_cast<unsigned>(std::stoul(text));
}

std::string labelOr(const Labels& labels, const std::string& key) {
    auto found = labels.find(key);
    return found == labels.end() ? std::string() : found->second;
}

// GPU Feature Discovery's driver version: the full label (GFD >= 0.15), else the parts,
// else the deprecated nvidia.com/cuda.driver.{major,minor,rev} labels.
std::string driverVersion(const Labels& labels) {
    if (auto full = labelOr(labels, "nvidia.com/cuda.driver-version.full"); !full.empty()) {
        return full;
    }
    for (const char* prefix : {"nvidia.com/cuda.driver-version.", "nvidia.com/cuda.driver."}) {
        std::string base(prefix);
        auto major = labelOr(labels, base + "major");
        auto minor = labelOr(labels, base + "minor");
        auto revision = labelOr(labels, base + (base.ends_with("driver.") ? "rev" : "revision"));
        if (!major.empty() && !minor.empty()) {
            return major + "." + minor + (revision.empty() ? "" : "." + revision);
        }
    }
    return {};
}

// NVIDIA GPUs: the device plugin's resource in the capacity, or GFD's / the GPU Operator's labels.
std::optional<Accelerator> accelerator(const Labels& labels, const json& capacity) {
    unsigned gpus = count(text(capacity, "nvidia.com/gpu"));
    if (gpus == 0) {
        gpus = count(labelOr(labels, "nvidia.com/gpu.count"));
    }
    if (gpus == 0 && labelOr(labels, "nvidia.com/gpu.present") != "true" &&
        labelOr(labels, "nvidia.com/gpu.product").empty()) {
        return std::nullopt;
    }
    return Accelerator{"nvidia", labelOr(labels, "nvidia.com/gpu.product"), driverVersion(labels), gpus};
}

std::string firstAddress(const json& addresses, std::string_view type) {
    if (addresses.is_array()) {
        for (const auto& address : addresses) {
            if (text(address, "type") == type) {
                return text(address, "address");
            }
        }
    }
    return {};
}

NodeState node(const json& item, std::string name) {
    const auto& metadata = child(item, "metadata");
    const auto& spec = child(item, "spec");
    const auto& status = child(item, "status");
    NodeState state;
    state.name = std::move(name);
    state.createdAt = text(metadata, "creationTimestamp");
    state.labels = stringMap(child(metadata, "labels"));
    const json* unschedulable = member(spec, "unschedulable");
    state.unschedulable =
        unschedulable != nullptr && unschedulable->is_boolean() && unschedulable->get<bool>();
    if (const auto& taints = child(spec, "taints"); taints.is_array()) {
        for (const auto& taint : taints) {
            if (taint.is_object()) {
                state.taints.push_back({text(taint, "key"), text(taint, "value"), text(taint, "effect")});
            }
        }
    }
    if (const auto& conditions = child(status, "conditions"); conditions.is_array()) {
        for (const auto& c : conditions) {
            if (c.is_object()) {
                state.conditions.push_back({text(c, "type"), text(c, "status"), text(c, "lastHeartbeatTime"),
                                            text(c, "lastTransitionTime"), text(c, "reason"),
                                            text(c, "message")});
            }
        }
    }
    const auto* ready = state.condition("Ready");
    state.state = ready == nullptr           ? "Unknown"
                  : ready->status == "True"  ? "Ready"
                  : ready->status == "False" ? "NotReady"
                                             : "Unknown";
    state.kubeletVersion = text(child(status, "nodeInfo"), "kubeletVersion");
    state.internalIP = firstAddress(child(status, "addresses"), "InternalIP");
    state.externalIP = firstAddress(child(status, "addresses"), "ExternalIP");
    state.accelerator = accelerator(state.labels, child(status, "capacity"));
    return state;
}

}  // namespace

std::string NodeState::statusText() const {
    return unschedulable ? state + ",SchedulingDisabled" : state;
}

const NodeCondition* NodeState::condition(std::string_view type) const {
    auto found =
        std::find_if(conditions.begin(), conditions.end(), [&](const auto& c) { return c.type == type; });
    return found == conditions.end() ? nullptr : &*found;
}

Result<std::vector<NodeState>> parseNodeList(std::string_view input) {
    if (input.size() > kMaxInput) {
        return malformed("larger than " + std::to_string(kMaxInput >> 20) + " MiB");
    }
    auto document = json::parse(input.begin(), input.end(), nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return malformed("not a JSON object");
    }
    auto kind = text(document, "kind");
    if (kind != "NodeList" && kind != "List") {
        return malformed("kind must be NodeList or List");
    }
    const auto& items = child(document, "items");
    if (!items.is_array()) {
        return malformed("items is not an array");
    }
    std::vector<NodeState> nodes;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& item = items[i];
        auto where = "items[" + std::to_string(i) + "]";
        // A List's items name their kind; a NodeList's do not.
        const json* itemKind = member(item, "kind");
        if (!item.is_object() || (itemKind != nullptr && *itemKind != "Node")) {
            return malformed(where + " is not a Node");
        }
        auto name = text(child(item, "metadata"), "name");
        if (name.empty()) {
            return malformed(where + ".metadata.name is missing");
        }
        nodes.push_back(node(item, std::move(name)));
    }
    return nodes;
}

}  // namespace gpuhost::kubernetes

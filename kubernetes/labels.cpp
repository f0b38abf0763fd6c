#include "labels.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

namespace gpuhost::kubernetes {

namespace {

using model::Error;
using model::Result;

constexpr std::size_t kMaxNameLength = 63;
constexpr std::size_t kMaxSubdomainLength = 253;
constexpr std::size_t kMaxLabels = 64;
constexpr std::size_t kMaxTaints = 32;

bool isLowerAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool isAlnum(char c) {
    return isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}

// The name part of a qualified name, and a label value when not empty.
bool isQualifiedNamePart(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength || !isAlnum(name.front()) || !isAlnum(name.back())) {
        return false;
    }
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool isDnsLabel(std::string_view label) {
    if (label.empty() || label.size() > kMaxNameLength || !isLowerAlnum(label.front()) ||
        !isLowerAlnum(label.back())) {
        return false;
    }
    return std::all_of(label.begin(), label.end(), [](char c) { return isLowerAlnum(c) || c == '-'; });
}

// The kubernetes.io / k8s.io labels a kubelet sets on its own node (k8s.io/kubelet/apis
// KubeletLabels); a kubelet started with any other label in those namespaces exits.
constexpr std::array<std::string_view, 11> kKubeletLabels{
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
};

bool inNamespace(std::string_view prefix, std::string_view domain) {
    return prefix == domain || (prefix.size() > domain.size() && prefix.ends_with(domain) &&
                                prefix[prefix.size() - domain.size() - 1] == '.');
}

bool kubeletMaySet(std::string_view key) {
    auto slash = key.find('/');
    if (slash == std::string_view::npos) {
        return true;
    }
    auto prefix = key.substr(0, slash);
    if (!inNamespace(prefix, "kubernetes.io") && !inNamespace(prefix, "k8s.io")) {
        return true;
    }
    return inNamespace(prefix, "node.kubernetes.io") || inNamespace(prefix, "kubelet.kubernetes.io") ||
           std::find(kKubeletLabels.begin(), kKubeletLabels.end(), key) != kKubeletLabels.end();
}

}  // namespace

Taint gpuTaint() {
    return {"nvidia.com/gpu", "present", "NoSchedule"};
}

bool isDnsSubdomain(std::string_view name) {
    if (name.empty() || name.size() > kMaxSubdomainLength) {
        return false;
    }
    for (std::size_t start = 0;;) {
        auto dot = name.find('.', start);
        if (!isDnsLabel(
                name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) {
            return false;
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

Result<void> validateLabelKey(std::string_view key, const std::string& field) {
    auto slash = key.find('/');
    auto name = slash == std::string_view::npos ? key : key.substr(slash + 1);
    bool prefixOk = slash == std::string_view::npos || isDnsSubdomain(key.substr(0, slash));
    if (!prefixOk || !isQualifiedNamePart(name)) {
        return Error::invalid(field,
                              "must be a label key: [prefix/]name, name 1-63 of [A-Za-z0-9-_.] "
                              "starting and ending alphanumeric, prefix a DNS subdomain");
    }
    return {};
}

Result<void> validateLabelValue(std::string_view value, const std::string& field) {
    if (!value.empty() && !isQualifiedNamePart(value)) {
        return Error::invalid(field,
                              "must be empty or 1-63 of [A-Za-z0-9-_.] starting and ending alphanumeric");
    }
    return {};
}

Result<void> validateNodeLabels(const Labels& labels, const std::string& field) {
    if (labels.size() > kMaxLabels) {
        return Error::invalid(field, "must hold at most " + std::to_string(kMaxLabels) + " labels");
    }
    for (const auto& [key, value] : labels) {
        // The key is untrusted: it goes into the field name only once it is known to be safe.
        if (auto ok = validateLabelKey(key, field); !ok) {
            return ok.error();
        }
        auto entry = field + "[" + key + "]";
        if (auto ok = validateLabelValue(value, entry); !ok) {
            return ok.error();
        }
        if (!kubeletMaySet(key)) {
            return Error::invalid(entry,
                                  "is in the kubernetes.io/k8s.io namespace, which a kubelet may not "
                                  "label itself with (use node.kubernetes.io/ or a domain of your own)");
        }
    }
    return {};
}

Result<void> validateTaints(const std::vector<Taint>& taints, const std::string& field) {
    if (taints.size() > kMaxTaints) {
        return Error::invalid(field, "must hold at most " + std::to_string(kMaxTaints) + " taints");
    }
    std::set<std::pair<std::string, std::string>> seen;
    for (std::size_t i = 0; i < taints.size(); ++i) {
        auto entry = field + "[" + std::to_string(i) + "]";
        const auto& taint = taints[i];
        if (auto ok = validateLabelKey(taint.key, entry + ".key"); !ok) {
            return ok.error();
        }
        if (auto ok = validateLabelValue(taint.value, entry + ".value"); !ok) {
            return ok.error();
        }
        if (taint.effect != "NoSchedule" && taint.effect != "PreferNoSchedule" &&
            taint.effect != "NoExecute") {
            return Error::invalid(entry + ".effect", "must be NoSchedule, PreferNoSchedule or NoExecute");
        }
        if (!seen.emplace(taint.key, taint.effect).second) {
            return Error::invalid(entry, "repeats the key and effect of another taint");
        }
    }
    return {};
}

std::string nodeLabelsArgument(const Labels& labels) {
    std::string argument;
    for (const auto& [key, value] : labels) {
        argument += (argument.empty() ? "" : ",") + key + "=" + value;
    }
    return argument;
}

}  // namespace gpuhost::kubernetes

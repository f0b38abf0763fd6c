#include "version.hpp"

namespace gpuhost::kubernetes {

namespace {

using model::Error;
using model::Result;

// Four digits per component: far beyond any release, and no overflow to think about.
constexpr std::size_t kMaxComponentDigits = 4;

// One component, up to the next '.' or the end; advances `rest` past it and its dot.
bool takeComponent(std::string_view& rest, unsigned& out, bool last) {
    auto end = last ? rest.size() : rest.find('.');
    if (end == std::string_view::npos || end == 0 || end > kMaxComponentDigits) {
        return false;
    }
    auto digits = rest.substr(0, end);
    if (digits.size() > 1 && digits.front() == '0') {
        return false;
    }
    unsigned value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    out = value;
    rest.remove_prefix(last ? end : end + 1);
    return true;
}

}  // namespace

std::string KubernetesVersion::text() const {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string KubernetesVersion::tag() const {
    return "v" + text();
}

Result<KubernetesVersion> parseKubernetesVersion(std::string_view text, const std::string& field) {
    std::string_view rest = text;
    if (rest.starts_with('v')) {
        rest.remove_prefix(1);
    }
    KubernetesVersion version;
    if (!takeComponent(rest, version.major, false) || !takeComponent(rest, version.minor, false) ||
        !takeComponent(rest, version.patch, true) || !rest.empty()) {
        return Error::invalid(field, "must be a Kubernetes release like 1.31.2 or v1.31.2");
    }
    return version;
}

Result<std::string_view> kubeadmApiVersion(const KubernetesVersion& version, const std::string& field) {
    if (version.major != 1 || version < kOldestSupported) {
        return Error::invalid(field, "must be Kubernetes 1.22 or newer (1.x)");
    }
    if (version < kFirstV1beta4) {
        return std::string_view("kubeadm.k8s.io/v1beta3");
    }
    return std::string_view("kubeadm.k8s.io/v1beta4");
}

Result<void> checkUpgradeStep(const KubernetesVersion& from, const KubernetesVersion& to,
                              const std::string& field) {
    if (to.major != from.major) {
        return Error::invalid(field,
                              "cannot change the major version (" + from.text() + " to " + to.text() + ")");
    }
    if (to < from) {
        return Error::invalid(field, "cannot downgrade from " + from.text() + " to " + to.text());
    }
    if (to.minor > from.minor + 1) {
        return Error::invalid(field, "kubeadm upgrades one minor release at a time (" + from.text() + " to " +
                                         to.text() + " skips one)");
    }
    return {};
}

}  // namespace gpuhost::kubernetes

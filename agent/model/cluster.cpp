#include "model/cluster.hpp"

#include <algorithm>
#include <set>

#include "model/validation.hpp"

namespace gpuhost::model {

namespace {

bool isAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace

std::string_view nameOf(ClusterKind kind) {
    return kind == ClusterKind::Slurm ? "slurm" : "kubernetes";
}

std::optional<ClusterKind> parseClusterKind(std::string_view text) {
    if (text == "slurm") {
        return ClusterKind::Slurm;
    }
    if (text == "kubernetes") {
        return ClusterKind::Kubernetes;
    }
    return std::nullopt;
}

std::string_view nameOf(ClusterPhase phase) {
    switch (phase) {
        case ClusterPhase::Pending:
            return "PENDING";
        case ClusterPhase::Provisioning:
            return "PROVISIONING";
        case ClusterPhase::Bootstrapping:
            return "BOOTSTRAPPING";
        case ClusterPhase::Ready:
            return "READY";
        case ClusterPhase::Scaling:
            return "SCALING";
        case ClusterPhase::Upgrading:
            return "UPGRADING";
        case ClusterPhase::Deleting:
            return "DELETING";
        case ClusterPhase::OutOfStock:
            return "OUT_OF_STOCK";
        case ClusterPhase::Error:
            return "ERROR";
    }
    return "ERROR";
}

const ClusterPool* Cluster::findPool(std::string_view pool) const {
    auto it = std::find_if(pools.begin(), pools.end(), [&](const ClusterPool& p) { return p.name == pool; });
    return it == pools.end() ? nullptr : &*it;
}

const ClusterUser* Cluster::findUser(std::string_view username) const {
    auto it = std::find_if(users.begin(), users.end(),
                           [&](const ClusterUser& u) { return u.username == username; });
    return it == users.end() ? nullptr : &*it;
}

unsigned Cluster::nextUid() const {
    std::set<unsigned> taken;
    for (const auto& user : users) {
        taken.insert(user.uid);
    }
    unsigned uid = kFirstClusterUid;
    while (taken.contains(uid)) {
        ++uid;
    }
    return uid;
}

Result<void> validatePartitionName(std::string_view name, const std::string& field) {
    if (name.empty() || name.size() > 63) {
        return Error::invalid(field, "must be 1-63 characters");
    }
    if (!isAlnum(name.front()) || !std::all_of(name.begin(), name.end(), [](char c) {
            return isAlnum(c) || c == '_' || c == '.' || c == '-';
        })) {
        return Error::invalid(field,
                              "must be letters, digits, '_', '.' or '-', starting with a letter or digit");
    }
    if (equalsIgnoringCase(name, "default") || equalsIgnoringCase(name, "all")) {
        return Error::invalid(field, "DEFAULT and ALL are Slurm keywords");
    }
    return {};
}

Result<void> validatePool(const ClusterPool& pool, const std::string& field) {
    if (auto valid = validateResourceName(pool.name, field + ".name"); !valid) {
        return valid;
    }
    if (pool.type.empty()) {
        return Error::invalid(field + ".type", "is required");
    }
    if (pool.partitions.size() > kMaxPoolPartitions) {
        return Error::invalid(field + ".partitions", "at most " + std::to_string(kMaxPoolPartitions));
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < pool.partitions.size(); ++i) {
        auto name = field + ".partitions[" + std::to_string(i) + "]";
        if (auto valid = validatePartitionName(pool.partitions[i], name); !valid) {
            return valid;
        }
        if (!seen.insert(pool.partitions[i]).second) {
            return Error::invalid(name, "is listed twice");
        }
    }
    return {};
}

}  // namespace gpuhost::model

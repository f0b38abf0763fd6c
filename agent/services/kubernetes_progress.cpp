#include "services/kubernetes_progress.hpp"

#include <nlohmann/json.hpp>

namespace gpuhost::agent {

std::string serializeProgress(const KubernetesProgress& progress) {
    return nlohmann::json{{"token", progress.token},
                          {"tokenIssuedAt", progress.tokenIssuedAt},
                          {"controlPlaneVersion", progress.controlPlaneVersion},
                          {"upgradedNodes", progress.upgradedNodes},
                          {"rollRetriesSeen", progress.rollRetriesSeen},
                          {"retryNode", progress.retryNode},
                          {"retryMarkerRemoved", progress.retryMarkerRemoved},
                          {"stoppedOn", progress.stoppedOn}}
        .dump();
}

model::Result<KubernetesProgress> parseProgress(const std::string& text) {
    auto json = nlohmann::json::parse(text, nullptr, false);
    auto bad = [] { return model::Error::internal("store: malformed Kubernetes cluster progress"); };
    if (!json.is_object() || !json.contains("token") || !json["token"].is_string() ||
        !json.contains("tokenIssuedAt") || !json["tokenIssuedAt"].is_number_integer() ||
        !json.contains("controlPlaneVersion") || !json["controlPlaneVersion"].is_string()) {
        return bad();
    }
    KubernetesProgress progress;
    progress.token = json["token"].get<std::string>();
    progress.tokenIssuedAt = json["tokenIssuedAt"].get<std::int64_t>();
    progress.controlPlaneVersion = json["controlPlaneVersion"].get<std::string>();
    if (json.contains("upgradedNodes")) {
        if (!json["upgradedNodes"].is_array()) {
            return bad();
        }
        for (const auto& node : json["upgradedNodes"]) {
            if (!node.is_string()) {
                return bad();
            }
            progress.upgradedNodes.push_back(node.get<std::string>());
        }
    }
    // Absent in what agents before the retry ask wrote.
    if (json.contains("rollRetriesSeen")) {
        if (!json["rollRetriesSeen"].is_number_unsigned()) {
            return bad();
        }
        progress.rollRetriesSeen = json["rollRetriesSeen"].get<unsigned>();
    }
    for (auto [key, field] :
         {std::pair{"retryNode", &progress.retryNode}, std::pair{"stoppedOn", &progress.stoppedOn}}) {
        if (json.contains(key)) {
            if (!json[key].is_string()) {
                return bad();
            }
            *field = json[key].get<std::string>();
        }
    }
    if (json.contains("retryMarkerRemoved")) {
        if (!json["retryMarkerRemoved"].is_boolean()) {
            return bad();
        }
        progress.retryMarkerRemoved = json["retryMarkerRemoved"].get<bool>();
    }
    return progress;
}

}  // namespace gpuhost::agent

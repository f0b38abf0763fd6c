#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "support/daemon.hpp"
#include "support/http_client.hpp"

namespace gpuhost::test {

inline const std::string kBase = "/api/v1alpha1";

inline Headers bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
}

inline Headers operatorJson() {
    return {{"Authorization", std::string("Bearer ") + Daemon::kOperatorToken},
            {"Content-Type", "application/json"}};
}

/// Creates a project as the operator and returns its id.
inline std::string createProject(std::uint16_t port, const std::string& name) {
    auto response =
        httpRequest(port, "POST", kBase + "/projects", operatorJson(), R"({"name":")" + name + "\"}");
    if (response.status != 201) {
        throw std::runtime_error("create project failed: " + std::to_string(response.status) + " " +
                                 response.body);
    }
    return nlohmann::json::parse(response.body).at("id");
}

}  // namespace gpuhost::test

#pragma once

#include <sys/resource.h>
#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

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

/// The operator's headers for project-scoped routes.
inline Headers inProject(const std::string& project, bool json = false) {
    Headers headers = json ? operatorJson() : bearer(Daemon::kOperatorToken);
    headers.emplace_back("X-PROJECT-ID", project);
    return headers;
}

/// POST `body` (JSON) to a project-scoped route as the operator.
inline HttpResponse postInProject(Daemon& daemon, const std::string& project, const std::string& path,
                                  const std::string& body) {
    return httpRequest(daemon.port(), "POST", kBase + path, inProject(project, true), body);
}

/// Lifts this process's soft open-file limit to `wanted` (tests that hold ~1,000 sockets).
inline void raiseFileLimit(rlim_t wanted) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        throw std::runtime_error("getrlimit failed");
    }
    limit.rlim_cur = std::min(std::max(limit.rlim_cur, wanted), limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < wanted) {
        throw std::runtime_error("the hard open-file limit is below " + std::to_string(wanted));
    }
}

/// Polls GET /instances/{id} until `done(body)` or the timeout; returns the last body
/// (null when the instance is gone).
template <class Done>
nlohmann::json pollInstance(std::uint16_t port, const std::string& project, const std::string& id, Done done,
                            std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto response = httpRequest(port, "GET", kBase + "/instances/" + id, inProject(project));
        nlohmann::json body =
            response.status == 200 ? nlohmann::json::parse(response.body) : nlohmann::json();
        if (done(body) || std::chrono::steady_clock::now() > deadline) {
            return body;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

/// The default 15 s suits the test driver; on real libvirt the first create also imports
/// the image and probes the host, so e2e tests pass a longer limit.
inline nlohmann::json waitForState(std::uint16_t port, const std::string& project, const std::string& id,
                                   const std::string& state,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    return pollInstance(
        port, project, id,
        [&](const nlohmann::json& body) { return body.is_object() && body.at("state") == state; }, timeout);
}

}  // namespace gpuhost::test

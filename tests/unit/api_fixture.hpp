#pragma once

// A RequestHandler over real services on fakes, driven with in-memory requests: the pure
// handler of the API, with no sockets. Shared by the handler and route tests.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth.hpp"
#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_filesystem_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "fakes/fake_instance_store.hpp"
#include "fakes/fake_project_store.hpp"
#include "request_handler.hpp"
#include "services/instance_module.hpp"
#include "support/run_coroutine.hpp"

namespace gpuhost::test::api_fixture {

using namespace gpuhost::api;
using test::runCoroutine;

inline const char* const kOperator = "op-secret";
inline const char* const kScoped = "scoped-secret";

inline agent::TokenConfig token(const std::string& name, const char* secret, bool all,
                                std::vector<model::Uuid> projects) {
    return agent::TokenConfig{name, TokenAuthenticator::sha256(secret), all, std::move(projects)};
}

struct Fixture {
    test::FakeProjectStore store;
    agent::BlockingPool pool{2};
    agent::ProjectService projects{store, pool};
    agent::Config config = [] {
        agent::Config c;
        c.instanceTypes.push_back({"cpu.small", 1, 1ull << 30, 0, ""});
        c.images.push_back(
            {"ubuntu22.04", "/nonexistent/base.img", "qcow2", {}, {}, {}});  // never booted here
        return c;
    }();
    agent::Catalog catalog{config};
    agent::Metrics metrics;
    test::FakeInstanceStore instanceStore;
    test::FakeHypervisor host;
    boost::asio::io_context jobs;
    test::FakeAgentStore agentStore;
    agent::InstanceModule instanceModule{instanceStore,
                                         agentStore,
                                         catalog,
                                         pool,
                                         pool,
                                         {{"local", &host, &host, &host, nullptr, nullptr}},
                                         jobs.get_executor(),
                                         {}};
    agent::InstanceService& instances = instanceModule.service();
    test::FakeFilesystemStore filesystemStore;
    agent::FilesystemService filesystems{
        filesystemStore,         pool, pool, {{"local", &host}}, jobs.get_executor(), 1ull << 40,
        std::chrono::seconds(30)};
    ApiContext context{projects, instances, filesystems, catalog, metrics};
    model::Uuid scopedProject = model::Uuid::random();
    TokenAuthenticator auth{
        {token("op", kOperator, true, {}), token("scoped", kScoped, false, {scopedProject})}};
    RequestHandler handler{context, auth};

    Response send(http::verb method, const std::string& target, const std::string& secret = kOperator,
                  const std::string& body = {}, const std::string& project = {}) {
        Request request{method, target, 11};
        if (!secret.empty()) {
            request.set(http::field::authorization, "Bearer " + secret);
        }
        if (!project.empty()) {
            request.set("X-PROJECT-ID", project);
        }
        if (!body.empty()) {
            request.set(http::field::content_type, "application/json");
            request.body() = body;
            request.prepare_payload();
        }
        return runCoroutine(handler.handle(std::move(request), "test"));
    }

    std::string createProject(const std::string& name) {
        auto response =
            send(http::verb::post, "/api/v1alpha1/projects", kOperator, R"({"name":")" + name + "\"}");
        REQUIRE(response.result() == http::status::created);
        return nlohmann::json::parse(response.body().str()).at("id");
    }
};

}  // namespace gpuhost::test::api_fixture

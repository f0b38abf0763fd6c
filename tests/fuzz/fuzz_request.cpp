// libFuzzer: bytes off the wire → Beast's parser (with the server's limits and its framing and
// trailer checks: Transfer-Encoding variants, trailers; see request.dict) → the whole
// request handler (routing, auth, scoping, content type, JSON, validation, handlers) over
// an in-memory store. Any crash, sanitizer report or uncaught exception is a finding.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstdint>
#include <string>

#include "auth.hpp"
#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_cluster_store.hpp"
#include "fakes/fake_filesystem_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "fakes/fake_instance_store.hpp"
#include "fakes/fake_project_store.hpp"
#include "log.hpp"
#include "request_framing.hpp"
#include "request_handler.hpp"
#include "services/cluster_module.hpp"
#include "services/instance_module.hpp"
#include "services/slurm_kind.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;

namespace {

// One CPU type and the Slurm image, so cluster creates get past the catalog checks.
agent::Config fuzzConfig() {
    agent::Config config;
    config.instanceTypes.push_back({"cpu.small", 1, 1ull << 30, 0, "", 0});
    config.images.push_back({"debian12-slurm", "/nonexistent/root.qcow2", "qcow2", {}, {}, {}});
    return config;
}

struct World {
    test::FakeProjectStore store;
    agent::BlockingPool pool{1};
    agent::ProjectService projects{store, pool};
    agent::Config config = fuzzConfig();
    agent::Catalog catalog{config};
    agent::Metrics metrics;
    test::FakeInstanceStore instanceStore;
    test::FakeHypervisor host;
    boost::asio::io_context jobs;  // never run: instance jobs stay queued
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
    // The Slurm routes over the real cluster service (its jobs stay queued too).
    test::FakeClusterStore clusterStore;
    agent::SlurmKind slurm{catalog, {}};
    agent::ClusterModule clusters{clusterStore,        pool, catalog, instanceModule, {&slurm},
                                  jobs.get_executor(), {}};
    api::ApiContext context{projects, instances, filesystems, catalog, metrics};
    api::TokenAuthenticator auth{{agent::TokenConfig{"op", api::TokenAuthenticator::sha256("t"), true, {}}}};
    api::RequestHandler handler{context, auth};
    World() {
        agent::log::setLevel("error");
        context.clusters = &clusters.api();
        // A project with a fixed id, so corpus entries can name it in X-PROJECT-ID and reach
        // the project-scoped handlers (instances, filesystems, Slurm).
        model::Project seed;
        seed.id = *model::Uuid::parse("00000000-0000-4000-8000-00000000f022");
        seed.name = "seed";
        (void)store.insertProject(seed);
        (void)projects.loadBlocking();
    }
};

// A request refused while it is read gets a 400 and the connection closes.
void expectRefusal(const model::Error& error) {
    auto response = api::RequestHandler::errorResponse(error, 11, false);
    if (response.result_int() != 400 || response.keep_alive()) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World world;
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 << 10);
    parser.body_limit(1 << 20);
    boost::beast::error_code ec;
    // As the server reads: the header alone first, its framing checked before any body byte.
    auto used = parser.put(boost::asio::buffer(data, size), ec);
    if (ec || !parser.is_header_done()) {
        return 0;
    }
    if (auto refused = api::framingError(parser.get())) {
        expectRefusal(*refused);
        return 0;
    }
    auto headerFields = api::fieldCount(parser.get());
    parser.eager(true);
    if (!parser.is_done()) {
        parser.put(boost::asio::buffer(data + used, size - used), ec);
    }
    if (!ec && !parser.is_done()) {
        parser.put_eof(ec);
    }
    if (ec) {
        return 0;
    }
    if (auto refused = api::trailerError(headerFields, parser.get())) {
        expectRefusal(*refused);
        return 0;
    }
    // What reaches the handler has exactly the fields of its header: none came in a trailer.
    if (api::fieldCount(parser.get()) != headerFields) {
        __builtin_trap();
    }
    auto response = test::runCoroutine(world.handler.handle(parser.release(), "fuzz"));
    if (response.result_int() >= 500 && response.result_int() != 501) {
        __builtin_trap();  // the daemon must answer every input with a 4xx, never a 5xx
    }
    return 0;
}

// libFuzzer: bytes off the wire → Beast's parser (with the server's limits) → the whole
// request handler (routing, auth, scoping, content type, JSON, validation, handlers) over
// an in-memory store. Any crash, sanitizer report or uncaught exception is a finding.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cstdint>
#include <string>

#include "auth.hpp"
#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_filesystem_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "fakes/fake_instance_store.hpp"
#include "fakes/fake_project_store.hpp"
#include "log.hpp"
#include "request_handler.hpp"
#include "services/instance_module.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;

namespace {

struct World {
    test::FakeProjectStore store;
    agent::BlockingPool pool{1};
    agent::ProjectService projects{store, pool};
    agent::Config config;
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
    api::ApiContext context{projects, instances, filesystems, catalog, metrics};
    api::TokenAuthenticator auth{{agent::TokenConfig{"op", api::TokenAuthenticator::sha256("t"), true, {}}}};
    api::RequestHandler handler{context, auth};
    World() {
        agent::log::setLevel("error");
        (void)test::runCoroutine(projects.create(model::Principal{"op", true, {}, "*"}, {"seed", {}}));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World world;
    namespace http = boost::beast::http;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 << 10);
    parser.body_limit(1 << 20);
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(data, size), ec);
    if (ec || !parser.is_header_done()) {
        return 0;
    }
    if (!parser.is_done()) {
        parser.put_eof(ec);
        if (ec) {
            return 0;
        }
    }
    auto response = test::runCoroutine(world.handler.handle(parser.release(), "fuzz"));
    if (response.result_int() >= 500 && response.result_int() != 501) {
        __builtin_trap();  // the daemon must answer every input with a 4xx, never a 5xx
    }
    return 0;
}

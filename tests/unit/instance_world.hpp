#pragma once

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <deque>
#include <fstream>
#include <functional>
#include <thread>

#include "fakes/fake_agent_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "fakes/fake_instance_store.hpp"
#include "log.hpp"
#include "services/instance_module.hpp"
#include "support/run_coroutine.hpp"
#include "support/temp_dir.hpp"

namespace gpuhost::test {

using model::InstanceState;

inline agent::Config testConfig(const std::filesystem::path& dir) {
    agent::Config config;
    config.instanceTypes.push_back({"cpu.small", 2, 4ull << 30, 0, "", 0});
    config.instanceTypes.push_back({"h100.8x", 8, 8ull << 30, 8, "H100-SXM5-80GB", 0});
    config.instanceTypes.push_back({"h100.1x", 24, 200ull << 30, 1, "H100-SXM5-80GB", 0});
    config.instanceTypes.push_back({"h100.8x-big", 192, 1800ull << 30, 8, "H100-SXM5-80GB", 0});
    std::ofstream(dir / "base.img") << "not really an image";
    config.images.push_back({"ubuntu22.04", dir / "base.img", "qcow2", {}, {}, {}});
    return config;
}

/// A fake hypervisor host for World.
struct FakeHost {
    std::string name;
    drivers::HostResources resources;
    std::vector<model::PciDevice> devices;
};

/// InstanceService over in-memory hosts and store, with its own io_context thread.
struct World {
    test::TempDir dir;
    agent::Config config = testConfig(dir.path);
    agent::Catalog catalog{config};
    test::FakeInstanceStore store;
    test::FakeAgentStore agentStore;
    std::deque<test::FakeHypervisor> hosts;  // stable addresses
    test::FakeHypervisor& host;              // the first
    std::vector<agent::HostBinding> bindings;
    agent::BlockingPool pool{2};
    boost::asio::io_context ioc;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
    std::thread runner;
    agent::InstanceModule module;
    agent::InstanceService& service = module.service();
    model::Uuid project = model::Uuid::random();

    /// One small CPU-only host by default; GPU tests pass HGX hosts (hgx_devices.hpp).
    /// `adjust` changes the service's options (network, bridge, …) before it is built.
    explicit World(std::vector<FakeHost> fakes = {{"local", {8, 16ull << 30, {}}, {}}},
                   std::chrono::milliseconds shutdownTimeout = std::chrono::milliseconds(500),
                   const std::function<void(agent::InstanceOptions&)>& adjust = {},
                   drivers::GuestAgent* guestAgent = nullptr)
        : hosts(makeHosts(fakes)),
          host(hosts.front()),
          bindings(bind(fakes, hosts, guestAgent)),
          module(store, agentStore, catalog, pool, pool, bindings, ioc.get_executor(),
                 options(shutdownTimeout, adjust),
                 agent::RetryPolicy{std::chrono::milliseconds(50), std::chrono::milliseconds(500), 0.2}) {
        agent::log::setLevel(std::getenv("GPUHOST_TEST_LOG") ? std::getenv("GPUHOST_TEST_LOG") : "error");
        std::filesystem::create_directories(dir.path / "scratch");
        REQUIRE(module.loadBlocking().ok());
        runner = std::thread([this] { ioc.run(); });
        module.start();
        waitFor([&] { return service.capacity().ok(); });
    }
    ~World() {
        stopIo();
        pool.join();  // blocking work in flight still uses the service: let it finish first
    }
    /// Stops the machinery and its I/O thread (what sits on top of the module may then go).
    void stopIo() {
        module.stop();
        work.reset();
        ioc.stop();
        if (runner.joinable()) {
            runner.join();
        }
    }
    static std::deque<test::FakeHypervisor> makeHosts(const std::vector<FakeHost>& fakes) {
        std::deque<test::FakeHypervisor> made;
        for (const auto& fake : fakes) {
            made.emplace_back(fake.resources, fake.devices);
        }
        return made;
    }
    static std::vector<agent::HostBinding> bind(const std::vector<FakeHost>& fakes,
                                                std::deque<test::FakeHypervisor>& made,
                                                drivers::GuestAgent* guestAgent) {
        std::vector<agent::HostBinding> bindings;
        for (std::size_t i = 0; i < fakes.size(); ++i) {
            bindings.push_back({fakes[i].name, &made[i], &made[i], &made[i], guestAgent, nullptr});
        }
        return bindings;
    }
    agent::InstanceOptions options(std::chrono::milliseconds shutdownTimeout,
                                   const std::function<void(agent::InstanceOptions&)>& adjust) {
        agent::InstanceOptions o;
        o.scratchDir = dir.path / "scratch";
        o.consoleLogDir = dir.path;
        o.shutdownTimeout = shutdownTimeout;
        o.resyncInterval = std::chrono::milliseconds(200);
        o.userDataLimit = 1024;
        if (adjust) {
            adjust(o);
        }
        return o;
    }

    template <class T>
    T await(boost::asio::awaitable<T> work) {
        auto future = boost::asio::co_spawn(ioc, test::asOptional(std::move(work)), boost::asio::use_future);
        return std::move(*future.get());
    }
    model::Result<model::Instance> create(const std::string& name, const std::string& type = "cpu.small",
                                          bool ephemeral = false, bool preemptible = false) {
        model::CreateInstance request;
        request.name = name;
        request.type = type;
        request.ephemeral = ephemeral;
        request.preemptible = preemptible;
        request.userData = "#cloud-config\nruncmd: [touch /tmp/marker]\n";
        return await(service.create(project, request));
    }
    InstanceState stateOf(const model::Uuid& id) {
        auto instance = service.get(project, id);
        REQUIRE(instance.ok());
        return instance->state;
    }
    void waitFor(const std::function<bool()>& condition) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!condition()) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    void waitForState(const model::Uuid& id, InstanceState state) {
        waitFor([&] { return stateOf(id) == state; });
    }
};

}  // namespace gpuhost::test

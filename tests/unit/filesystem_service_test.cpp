// FilesystemService over in-memory hosts and store: placement keeps a project's
// filesystems on one host, the worker mounts them, a delete in use is refused.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "fakes/fake_filesystem_store.hpp"
#include "fakes/fake_hypervisor.hpp"
#include "services/filesystem_service.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;
using model::FilesystemState;

namespace {

struct Region {
    test::FakeFilesystemStore store;
    test::FakeHypervisor a, b;
    agent::BlockingPool pool{2};
    boost::asio::io_context ioc;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{ioc.get_executor()};
    agent::FilesystemService service{store,
                                     pool,
                                     pool,
                                     {{"host-a", &a}, {"host-b", &b}},
                                     ioc.get_executor(),
                                     1ull << 40,
                                     std::chrono::seconds(30)};
    std::thread runner;

    Region() {
        REQUIRE(service.loadBlocking().ok());
        runner = std::thread([this] { ioc.run(); });
        service.start();
    }
    ~Region() {
        service.stop();
        work.reset();
        runner.join();
        pool.join();
    }
    template <class T>
    T await(boost::asio::awaitable<T> job) {
        return std::move(
            *boost::asio::co_spawn(ioc, test::asOptional(std::move(job)), boost::asio::use_future).get());
    }
    model::Filesystem create(const model::Uuid& project, const std::string& name, std::uint64_t size) {
        auto made = await(service.create(project, {name, size}));
        REQUIRE(made.ok());
        return *made;
    }
    void waitForState(const model::Uuid& project, const model::Uuid& id, FilesystemState state) {
        for (int i = 0; i < 2000; ++i) {
            auto got = service.get(project, id);
            if (got.ok() && got->state == state) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        FAIL("state never reached");
    }
};

}  // namespace

TEST_CASE(
    "filesystems: a project's filesystems share a host, new projects spread, mounts and deletes happen") {
    Region r;
    auto team = model::Uuid::random(), other = model::Uuid::random();
    auto first = r.create(team, "data", 100ull << 30);
    auto second = r.create(team, "models", 1ull << 30);
    CHECK(second.host == first.host);  // an instance may attach both
    auto elsewhere = r.create(other, "scratch", 1ull << 30);
    CHECK(elsewhere.host != first.host);  // the emptier host
    r.waitForState(team, first.id, FilesystemState::Available);
    r.waitForState(team, second.id, FilesystemState::Available);
    auto found = r.service.find(team, first.id);
    REQUIRE(found.has_value());
    CHECK(found->mountPoint == "/fake/shared/" + agent::sharedDirectoryName(first.id));
    CHECK_FALSE(r.service.find(other, first.id).has_value());  // never across projects

    r.store.markInUse(first.id, true);
    auto refused = r.await(r.service.remove(team, first.id));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == model::ErrorCode::Conflict);
    r.store.markInUse(first.id, false);
    REQUIRE(r.await(r.service.remove(team, first.id)).ok());
    for (int i = 0; i < 2000 && r.service.get(team, first.id).ok(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK_FALSE(r.service.get(team, first.id).ok());
    auto& hostOfFirst = first.host == "host-a" ? r.a : r.b;
    CHECK(hostOfFirst.sharedCount() == 1);  // only `models` is left there
}

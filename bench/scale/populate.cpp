// Stores many instances in one project through the API, a few at a time (closed loop):
// each is created, waited for until running, and all but the first keep_running are
// stopped again (stopped instances hold no CPU or memory, so a small test-driver host
// can store thousands). Prints the rate and the create answers' latency.
//
//   scale_populate --port P --token T --project ID --count N [--first 0]
//                  [--keep-running 1000] [--concurrency 8] [--type bench.tiny]
// Instances first..count-1 are made (so a run can be extended); the first keep_running
// of all indices stay running.
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "http_connection.hpp"
#include "stats.hpp"

using namespace gpuhost::bench;
namespace asio = boost::asio;

namespace {

struct Options {
    unsigned short port = 0;
    std::string token, project, type = "bench.tiny";
    std::size_t first = 0, count = 0, keepRunning = 1000, concurrency = 8;
};

struct Progress {
    std::size_t next = 0, stored = 0, failed = 0;
    std::vector<double> createMs;
    Clock::time_point start = Clock::now();
};

const std::string kInstances = "/api/v1alpha1/instances";

std::string stateOf(const Response& response) {
    if (response.status != 200) {
        return "http-" + std::to_string(response.status);
    }
    return nlohmann::json::parse(response.body).at("state").get<std::string>();
}

// Polls the instance until it is in `wanted`; false if it lands anywhere else steady.
asio::awaitable<bool> waitFor(HttpConnection& connection, const Options& o, const std::string& id,
                              const std::string& wanted) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    auto request = makeRequest(http::verb::get, kInstances + "/" + id, {o.token, o.project});
    for (;;) {
        auto response = co_await connection.exchange(request);
        auto state = stateOf(response);
        if (state == wanted) {
            co_return true;
        }
        if (state == "error" || state == "out-of-stock" || state.starts_with("http-")) {
            std::fprintf(stderr, "instance %s is %s, not %s\n", id.c_str(), state.c_str(), wanted.c_str());
            co_return false;
        }
        pause.expires_after(std::chrono::milliseconds(20));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<bool> storeOne(HttpConnection& connection, const Options& o, Progress& progress,
                               std::size_t i) {
    nlohmann::json body = {{"name", "scale-" + std::to_string(i)}, {"type", o.type}};
    auto sent = Clock::now();
    // Named, not a temporary in the co_await expression (GCC 12 coroutine bugs).
    auto create = makeRequest(http::verb::post, kInstances, {o.token, o.project}, body.dump());
    auto created = co_await connection.exchange(create);
    progress.createMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    if (created.status != 201) {
        std::fprintf(stderr, "create: %d %s\n", created.status, created.body.c_str());
        co_return false;
    }
    auto id = nlohmann::json::parse(created.body).at("id").get<std::string>();
    const std::string running = "running", stopped = "stopped";
    bool up = co_await waitFor(connection, o, id, running);
    if (!up) {
        co_return false;
    }
    if (i < o.keepRunning) {
        co_return true;
    }
    auto stop = makeRequest(http::verb::post, kInstances + "/" + id + "/actions/stop", {o.token, o.project});
    auto stopAnswer = co_await connection.exchange(stop);
    if (stopAnswer.status != 202) {
        std::fprintf(stderr, "stop: %d %s\n", stopAnswer.status, stopAnswer.body.c_str());
        co_return false;
    }
    bool done = co_await waitFor(connection, o, id, stopped);
    co_return done;
}

asio::awaitable<void> worker(const Options& o, Progress& progress) {
    auto executor = co_await asio::this_coro::executor;
    HttpConnection connection(executor, loopback(o.port));
    while (progress.next < o.count) {
        std::size_t i = progress.next++;
        bool ok = co_await storeOne(connection, o, progress, i);
        ++(ok ? progress.stored : progress.failed);
        if ((progress.stored + progress.failed) % 1000 == 0) {
            double seconds = std::chrono::duration<double>(Clock::now() - progress.start).count();
            std::printf("  %zu stored after %.0f s (%.1f/s)\n", progress.stored, seconds,
                        static_cast<double>(progress.stored) / seconds);
            std::fflush(stdout);
        }
    }
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}

Options parse(int argc, char** argv) {
    std::map<std::string, std::string> given;
    for (int i = 1; i + 1 < argc; i += 2) {
        given[argv[i]] = argv[i + 1];
    }
    Options o;
    o.port = static_cast<unsigned short>(std::stoi(given["--port"]));
    o.token = given["--token"];
    o.project = given["--project"];
    o.count = std::stoul(given["--count"]);
    if (given.contains("--first")) {
        o.first = std::stoul(given["--first"]);
    }
    if (given.contains("--keep-running")) {
        o.keepRunning = std::stoul(given["--keep-running"]);
    }
    if (given.contains("--concurrency")) {
        o.concurrency = std::stoul(given["--concurrency"]);
    }
    if (given.contains("--type")) {
        o.type = given["--type"];
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception&) {
        std::fprintf(stderr, "usage: scale_populate --port P --token T --project ID --count N [options]\n");
        return 2;
    }
    asio::io_context ioc;
    Progress progress;
    progress.next = o.first;
    for (std::size_t i = 0; i < o.concurrency; ++i) {
        auto rethrow = [](std::exception_ptr error) {
            if (error) {
                std::rethrow_exception(error);
            }
        };
        asio::co_spawn(ioc, worker(o, progress), rethrow);
    }
    ioc.run();
    double seconds = std::chrono::duration<double>(Clock::now() - progress.start).count();
    std::printf(
        "stored instances %zu..%zu (%zu), %zu failed, in %.1f s: %.1f/s, %zu at a time; POST /instances "
        "answered in p50 %.1f ms, p99 %.1f ms\n",
        o.first, o.count - 1, progress.stored, progress.failed, seconds,
        static_cast<double>(progress.stored) / seconds, o.concurrency, percentile(progress.createMs, 0.5),
        percentile(progress.createMs, 0.99));
    return progress.failed == 0 ? 0 : 1;
}

// Mixed load against a running gpuhostd on libvirt's test driver: an open-loop,
// fixed-rate stream of reads (instance, instance list, project) with a steady share of
// creates and deletes, over several keep-alive connections. Prints per-kind latency
// (from the due time), errors, achieved req/s, the daemon's RSS growth from after a
// warm-up to the end, and checks at the end that the API converged to what it
// acknowledged. A read-only run at the same rate, first, is the baseline.
//
//   load_bench --port P --token T --pid DAEMON_PID [--seconds 60] [--rate 1000]
//              [--creates 20] [--deletes 20] [--connections 32] [--write-connections 16] [--projects 10]
//              [--seed 20] [--type bench.tiny] [--warmup 10] [--baseline 15]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <exception>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "convergence.hpp"
#include "workload.hpp"

using namespace gpuhost::bench;
namespace asio = boost::asio;

namespace {

struct Options {
    unsigned short port = 0;
    std::string token;
    int pid = 0;
    double seconds = 60, rate = 1000, creates = 20, deletes = 20, warmup = 10, baseline = 15;
    std::size_t connections = 32, writeConnections = 16, projects = 10, seedPerProject = 20;
    std::string type = "bench.tiny";
};

Options parse(int argc, char** argv) {
    std::map<std::string, std::string> given;
    for (int i = 1; i + 1 < argc; i += 2) {
        given[argv[i]] = argv[i + 1];
    }
    auto number = [&given](const char* key, double fallback) {
        return given.contains(key) ? std::stod(given[key]) : fallback;
    };
    Options o;
    o.port = static_cast<unsigned short>(number("--port", 0));
    o.token = given["--token"];
    o.pid = static_cast<int>(number("--pid", 0));
    o.seconds = number("--seconds", o.seconds);
    o.rate = number("--rate", o.rate);
    o.creates = number("--creates", o.creates);
    o.deletes = number("--deletes", o.deletes);
    o.warmup = number("--warmup", o.warmup);
    o.baseline = number("--baseline", o.baseline);
    o.connections = static_cast<std::size_t>(number("--connections", 32));
    o.writeConnections = static_cast<std::size_t>(number("--write-connections", 16));
    o.projects = static_cast<std::size_t>(number("--projects", 10));
    o.seedPerProject = static_cast<std::size_t>(number("--seed", 20));
    if (given.contains("--type")) {
        o.type = given["--type"];
    }
    if (o.port == 0 || o.token.empty() || o.pid == 0) {
        throw std::invalid_argument("usage: load_bench --port P --token T --pid DAEMON_PID [options]");
    }
    return o;
}

std::string idOf(const Response& response, const char* what) {
    if (response.status != 201) {
        throw std::runtime_error(std::string(what) + ": " + std::to_string(response.status) + " " +
                                 response.body);
    }
    return nlohmann::json::parse(response.body).at("id").get<std::string>();
}

// Projects and seed instances, one request at a time; then waits until the seed runs.
asio::awaitable<void> seed(HttpConnection& control, Workload& workload,
                           const std::vector<std::string>& projects, const Options& o) {
    std::map<std::string, std::string> seeded;
    for (const auto& project : projects) {
        for (std::size_t i = 0; i < o.seedPerProject; ++i) {
            nlohmann::json body = {{"name", "seed-" + std::to_string(i)}, {"type", o.type}};
            auto request =
                makeRequest(http::verb::post, "/api/v1alpha1/instances", {o.token, project}, body.dump());
            auto created = co_await control.exchange(request);
            seeded[idOf(created, "seed instance")] = project;
        }
    }
    const std::set<std::string> noneDeleted;
    const Clock::duration timeout = std::chrono::seconds(120);
    auto done = co_await converge(control, o.token, projects, seeded, noneDeleted, timeout);
    if (!done.ok) {
        throw std::runtime_error("the seed instances did not all reach running");
    }
    for (const auto& [id, project] : seeded) {
        workload.adopt(id, project, true);
    }
}

asio::awaitable<std::vector<std::string>> createProjects(HttpConnection& control, const Options& o) {
    std::vector<std::string> projects;
    for (std::size_t i = 0; i < o.projects; ++i) {
        nlohmann::json body = {{"name", "load-" + std::to_string(o.pid) + "-" + std::to_string(i)}};
        auto request = makeRequest(http::verb::post, "/api/v1alpha1/projects", {o.token, {}}, body.dump());
        auto created = co_await control.exchange(request);
        projects.push_back(idOf(created, "project"));
    }
    co_return projects;
}

void printRss(const char* when, long kib) {
    std::printf("daemon RSS %-34s %8.1f MiB\n", when, static_cast<double>(kib) / 1024);
}

asio::awaitable<int> program(Options o) {
    const Clock::duration timeout = std::chrono::seconds(120);
    auto executor = co_await asio::this_coro::executor;
    HttpConnection control(executor, loopback(o.port));
    auto projects = co_await createProjects(control, o);
    Workload workload(o.token, projects, o.type);
    co_await seed(control, workload, projects, o);
    std::printf("seeded %zu projects x %zu running instances (%s)\n", o.projects, o.seedPerProject,
                o.type.c_str());
    printRss("after the seed:", residentKiB(o.pid));

    OpenLoop loop(executor, loopback(o.port), o.connections, o.writeConnections);
    // std::function objects named here, not converted inside co_await (GCC 12 coroutine bugs).
    OpenLoop::Plan plan = [&workload](Clock::time_point due) { return workload.next(due); };
    OpenLoop::Answered answered = [&workload](const Planned& p, const Response& r, Clock::duration latency) {
        workload.answered(p, r, latency);
    };
    auto seconds = [](double s) {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    Mix reads{0, 0, 0.10, 0.20};
    Mix mixed{o.creates / o.rate, o.deletes / o.rate, 0.10, 0.20};

    workload.setMix(reads);
    auto baselineFor = seconds(o.baseline), warmupFor = seconds(o.warmup), measuredFor = seconds(o.seconds);
    auto baseline = co_await loop.drive(o.rate, baselineFor, plan, answered);
    workload.stats().print("baseline: reads only, same rate and connections", baseline.seconds);
    auto baselineErrors = workload.stats().errors();

    workload.setMix(mixed);
    co_await loop.drive(o.rate, warmupFor, plan, answered);  // warm-up, not reported
    workload.stats().reset();
    long rssBefore = residentKiB(o.pid);
    auto liveBefore = workload.live().size();
    RssSampler sampler(executor, o.pid);
    auto measured = co_await loop.drive(o.rate, measuredFor, plan, answered);
    long rssAfter = residentKiB(o.pid);
    long rssPeak = sampler.stop();
    workload.stats().print("mixed load", measured.seconds);
    std::printf(
        "due %llu requests in %.0f s (%.0f/s); answered %llu (%.1f/s); worst queue %zu; "
        "deletes with no running candidate (sent as GETs): %llu\n",
        static_cast<unsigned long long>(measured.sent), o.seconds, measured.sent / o.seconds,
        static_cast<unsigned long long>(workload.stats().answered()),
        workload.stats().answered() / measured.seconds, measured.maxQueued,
        static_cast<unsigned long long>(workload.deletesWithoutCandidate()));
    printRss("after the warm-up:", rssBefore);
    printRss("at the end:", rssAfter);
    printRss("peak (sampled every second):", rssPeak);
    std::printf("daemon RSS every 10 s (MiB):");
    for (std::size_t i = 0; i < sampler.samples().size(); i += 10) {
        std::printf(" %.1f", static_cast<double>(sampler.samples()[i]) / 1024);
    }
    std::printf("\n");
    // RSS follows the live set too (libvirt's test driver runs in the daemon's process).
    std::printf("live instances after the warm-up: %zu, at the end: %zu\n", liveBefore,
                workload.live().size());
    double growth = 100.0 * static_cast<double>(rssAfter - rssBefore) / static_cast<double>(rssBefore);
    std::printf("daemon RSS growth over the run: %+.2f %%\n", growth);

    auto live = workload.live();
    auto done = co_await converge(control, o.token, projects, live, workload.deleted(), timeout);
    std::printf(
        "convergence: %zu acknowledged instances all present and running, %zu acknowledged deletes all "
        "gone: %s after %.1f s (not running %zu, missing %zu, not gone %zu, unacknowledged %zu)\n",
        live.size(), workload.deleted().size(), done.ok ? "yes" : "NO", done.seconds, done.notRunning,
        done.missing, done.lingering, done.unknown);
    bool pass = done.ok && workload.stats().errors() == 0 && baselineErrors == 0;
    co_return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        auto options = parse(argc, argv);
        asio::io_context ioc;
        int status = 1;
        auto finished = [&status](std::exception_ptr error, int code) {
            if (error) {
                std::rethrow_exception(error);
            }
            status = code;
        };
        asio::co_spawn(ioc, program(options), finished);
        ioc.run();
        return status;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "load_bench: %s\n", e.what());
        return 2;
    }
}

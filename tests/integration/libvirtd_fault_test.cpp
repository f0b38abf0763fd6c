// libvirtd faults: the daemon's libvirtd is killed and restarted, or frozen (SIGSTOP: the
// socket still accepts, nothing answers) while work is in flight. The API must keep
// answering from the store meanwhile, writes that can be acknowledged must be, and once
// libvirtd is back the daemon reconnects (with backoff), resyncs, and converges.
//
// Each test runs its own libvirtd (PrivateLibvirtd), so killing it disturbs nothing else.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "api_helpers.hpp"
#include "libvirt/connection.hpp"
#include "libvirt/libvirt_hypervisor.hpp"
#include "support/private_libvirtd.hpp"

using namespace gpuhost;
using namespace gpuhost::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string createInstance(Daemon& daemon, const std::string& project, const std::string& name) {
    auto created = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":")" + name + R"(","type":"cpu.small"})");
    REQUIRE_MESSAGE(created.status == 201, created.body);
    return json::parse(created.body).at("id");
}

int instanceStatus(Daemon& daemon, const std::string& project, const std::string& id) {
    return httpRequest(daemon.port(), "GET", kBase + "/instances/" + id, inProject(project)).status;
}

// Polls until `done()` or the timeout; returns whether it came true and prints how long.
template <class Done>
bool within(std::chrono::seconds timeout, const char* what, Done done) {
    auto start = Clock::now();
    while (!done()) {
        if (Clock::now() - start > timeout) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    MESSAGE(std::string(what) << ": " << ms << " ms");
    return true;
}

// Reads served while libvirt is away: every one answers, and within the client's timeout.
void readsKeepAnswering(Daemon& daemon, const std::string& project, const std::string& id,
                        std::size_t expectedCount, std::chrono::milliseconds during) {
    auto until = Clock::now() + during;
    int reads = 0;
    while (Clock::now() < until) {
        auto list = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
        REQUIRE(list.status == 200);
        CHECK(json::parse(list.body).size() == expectedCount);
        CHECK(instanceStatus(daemon, project, id) == 200);
        CHECK(
            httpRequest(daemon.port(), "GET", kBase + "/projects/" + project, bearer(Daemon::kOperatorToken))
                .status == 200);
        CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
        ++reads;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    MESSAGE(reads * 4 << " reads answered while libvirt was away");
}

// gpuhost_resources{kind="host",state=…} from /metrics: what an operator alerts on.
int hostGauge(Daemon& daemon, const std::string& state) {
    auto metrics = httpRequest(daemon.port(), "GET", "/metrics", bearer(Daemon::kOperatorToken));
    REQUIRE(metrics.status == 200);
    auto key = "gpuhost_resources{kind=\"host\",state=\"" + state + "\"} ";
    auto at = metrics.body.find(key);
    return at == std::string::npos ? -1 : std::stoi(metrics.body.substr(at + key.size()));
}

bool noneTransitional(Daemon& daemon, const std::string& project) {
    auto list = httpRequest(daemon.port(), "GET", kBase + "/instances", inProject(project));
    if (list.status != 200) {
        return false;
    }
    for (const auto& instance : json::parse(list.body)) {
        std::string state = instance.at("state");
        std::string reason = instance.value("reason", "");
        if (state == "creating" || state == "starting" || state == "stopping" || state == "deleting" ||
            reason.find("unreachable") != std::string::npos) {
            return false;
        }
    }
    return true;
}

}  // namespace

TEST_CASE(
    "libvirtd killed: reads answer from the store, creates get 503, deletes wait, reconnect converges") {
    PrivateLibvirtd libvirtd;
    libvirtd.start();
    Daemon daemon({}, "127.0.0.1:0", libvirtd.uri());
    daemon.start();
    auto project = createProject(daemon.port(), "faults");
    auto kept = createInstance(daemon, project, "kept");
    auto doomed = createInstance(daemon, project, "doomed");
    REQUIRE(waitForState(daemon.port(), project, kept, "running").at("state") == "running");
    REQUIRE(waitForState(daemon.port(), project, doomed, "running").at("state") == "running");

    libvirtd.kill();
    // The connection's close callback tells the daemon at once; the API shows why.
    auto shown = pollInstance(daemon.port(), project, kept, [](const json& body) {
        return body.is_object() && body.value("reason", "").find("unreachable") != std::string::npos;
    });
    CHECK(shown.at("state") == "error");
    CHECK(hostGauge(daemon, "unreachable") == 1);
    readsKeepAnswering(daemon, project, kept, 2, std::chrono::seconds(2));
    // No host can take a new instance: the client is told to retry, and nothing is stored.
    auto refused = httpRequest(daemon.port(), "POST", kBase + "/instances", inProject(project, true),
                               R"({"name":"during","type":"cpu.small"})");
    CHECK(refused.status == 503);
    // A delete is stored (204) and carried out once libvirt is back.
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + doomed, inProject(project)).status ==
          204);
    readsKeepAnswering(daemon, project, kept, 2, std::chrono::seconds(1));

    libvirtd.start();  // a fresh test driver: the domains died with the old daemon
    CHECK(within(std::chrono::seconds(10), "delete finished after libvirtd came back",
                 [&] { return instanceStatus(daemon, project, doomed) == 404; }));
    CHECK(within(std::chrono::seconds(10), "every instance steady, none unreachable",
                 [&] { return noneTransitional(daemon, project); }));
    // Its domain died with libvirtd: the instance says so rather than claiming to run.
    auto lost = waitForState(daemon.port(), project, kept, "error");
    CHECK(lost.value("reason", "").find("vanished") != std::string::npos);
    // The reconnected host takes new work.
    auto fresh = createInstance(daemon, project, "after");
    CHECK(waitForState(daemon.port(), project, fresh, "running").at("state") == "running");
    CHECK(daemon.log().find("libvirt connection lost") != std::string::npos);
    CHECK(hostGauge(daemon, "reachable") == 1);
    CHECK(hostGauge(daemon, "unreachable") == 0);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("libvirtd frozen: reads never wait for it, acknowledged writes complete once it thaws") {
    PrivateLibvirtd libvirtd;
    libvirtd.start();
    // Small instances: every create during the freeze is admitted and gets a job (the test
    // host has 3 GiB), so more jobs hang in libvirt than the blocking pool has threads.
    Daemon daemon("instance_types:\n  - {name: cpu.small, cpu: 1, memory: 128Mi}\n", "127.0.0.1:0",
                  libvirtd.uri());
    daemon.start();
    auto project = createProject(daemon.port(), "frozen");
    auto doomed = createInstance(daemon, project, "doomed");
    auto ready = waitForState(daemon.port(), project, doomed, "running");
    REQUIRE_MESSAGE(ready.at("state") == "running", ready.dump());

    libvirtd.freeze();
    // The resources are known, so creates are admitted and stored without libvirt: more
    // of them than the blocking pool has threads, whose jobs all hang in libvirt calls.
    auto during = createInstance(daemon, project, "during");
    std::vector<std::string> more;
    for (int i = 0; i < 6; ++i) {
        auto sent = Clock::now();
        more.push_back(createInstance(daemon, project, "more-" + std::to_string(i)));
        MESSAGE(
            "create " << i << " during the freeze acknowledged in "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count()
                      << " ms");
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // their jobs now hang in libvirt calls
    auto sent = Clock::now();
    more.push_back(createInstance(daemon, project, "late"));
    MESSAGE("a create after the jobs hung acknowledged in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count() << " ms");
    CHECK(httpRequest(daemon.port(), "DELETE", kBase + "/instances/" + doomed, inProject(project)).status ==
          204);
    readsKeepAnswering(daemon, project, during, 9, std::chrono::seconds(3));
    libvirtd.thaw();

    CHECK(within(std::chrono::seconds(15), "frozen-time create running after the thaw", [&] {
        auto body = pollInstance(
            daemon.port(), project, during, [](const json&) { return true; }, std::chrono::seconds(0));
        return body.is_object() && body.at("state") == "running";
    }));
    CHECK(within(std::chrono::seconds(15), "frozen-time delete finished after the thaw",
                 [&] { return instanceStatus(daemon, project, doomed) == 404; }));
    // libvirt agrees: the created domain runs and the deleted one is gone.
    drivers::libvirt::Connection observer(libvirtd.uri());
    drivers::libvirt::LibvirtHypervisor hypervisor(observer);
    auto domains = hypervisor.listManagedDomains();
    REQUIRE(domains.ok());
    bool sawCreated = false;
    for (const auto& domain : *domains) {
        CHECK(domain.instanceId.str() != doomed);
        sawCreated =
            sawCreated || (domain.instanceId.str() == during && domain.state == drivers::PowerState::Running);
    }
    CHECK(sawCreated);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("libvirtd answering slowly: the daemon says so, with the likely cause") {
    // What a host without udev looks like to the daemon (/dev/kvm 0600 root:root makes
    // libvirt re-probe QEMU on every call, 25-45 s each): a libvirtd that takes seconds
    // to answer the periodic resync (every 2 s here), well after its first probe.
    PrivateLibvirtd libvirtd;
    libvirtd.start();
    Daemon daemon("", "127.0.0.1:0", libvirtd.uri());
    daemon.start();
    REQUIRE(within(std::chrono::seconds(15), "start-up reconcile done",
                   [&] { return daemon.log().find("start-up reconcile done") != std::string::npos; }));
    CHECK(daemon.log().find("libvirt answered slowly") == std::string::npos);  // a quick libvirtd: quiet
    libvirtd.freeze();
    std::this_thread::sleep_for(std::chrono::seconds(5));
    libvirtd.thaw();
    CHECK(within(std::chrono::seconds(15), "slow-libvirt warning logged",
                 [&] { return daemon.log().find("msg=\"libvirt answered slowly\"") != std::string::npos; }));
    CHECK(daemon.log().find("/dev/kvm") != std::string::npos);
    CHECK(daemon.stop() == 0);
}

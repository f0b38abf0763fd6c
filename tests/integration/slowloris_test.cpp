// Connection limits under attack: a slowloris of 1,000 sockets, each trickling one header
// byte at a time and reconnecting whenever the daemon cuts it off, while ordinary clients
// keep asking. They must all be served: the header timeout bounds how long an attacker
// holds a slot, and max_connections leaves room beside the attack.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSlowSockets = 1000;

// The test holds 1,000 sockets and the daemon (its child) as many: raise the soft limit.
// The attacker: 1,000 sockets that each send a request line and then one header byte per
// round, never the blank line; a socket the daemon closed is opened again.
struct Slowloris {
    std::uint16_t port;
    std::vector<int> sockets = std::vector<int>(kSlowSockets, -1);
    std::atomic<bool> stop{false};
    std::atomic<int> reopened{0};
    std::atomic<int> open{0};

    void run() {
        const std::string start = "GET /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        while (!stop) {
            int live = 0;
            for (auto& fd : sockets) {
                if (fd >= 0 && ::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
                    ::close(fd);
                    fd = -1;
                    ++reopened;
                }
                if (fd < 0) {
                    fd = connectLoopback(port);
                    if (fd >= 0 && ::send(fd, start.data(), start.size(), MSG_NOSIGNAL) < 0) {
                        ::close(fd);
                        fd = -1;
                    }
                }
                live += fd >= 0 ? 1 : 0;
            }
            open = live;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        for (int fd : sockets) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
};

}  // namespace

TEST_CASE("slowloris: 1,000 trickling sockets do not stop ordinary clients being served") {
    raiseFileLimit(4 * kSlowSockets);
    // A short header timeout so that, within the test, slots are taken back and retaken. The
    // attacker and the ordinary clients share 127.0.0.1: without lifting the per-address cap
    // the clients would be refused with it (connection_limits_test.cpp covers that cap).
    Daemon daemon("limits:\n  header_timeout_s: 2\n  max_connections_per_address: 100000\n");
    daemon.start();
    auto project = createProject(daemon.port(), "victim");

    Slowloris attack{daemon.port()};
    std::thread attacker([&] { attack.run(); });
    auto established = Clock::now() + std::chrono::seconds(10);
    while (attack.open < kSlowSockets && Clock::now() < established) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(attack.open == kSlowSockets);

    std::vector<double> latenciesMs;
    int failures = 0;
    auto until = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < until) {
        auto sent = Clock::now();
        int status = 0;
        try {
            status = httpRequest(daemon.port(), "GET", kBase + "/projects/" + project,
                                 bearer(Daemon::kOperatorToken))
                         .status;
        } catch (const std::exception&) {
            // closed or timed out: counted below, not thrown
        }
        latenciesMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        failures += status == 200 ? 0 : 1;
    }
    int heldAtEnd = attack.open;
    attack.stop = true;
    attacker.join();

    std::sort(latenciesMs.begin(), latenciesMs.end());
    auto at = [&](double q) { return latenciesMs[static_cast<std::size_t>(q * (latenciesMs.size() - 1))]; };
    MESSAGE(latenciesMs.size() << " ordinary requests during the attack: p50 " << at(0.5) << " ms, p99 "
                               << at(0.99) << " ms, max " << latenciesMs.back()
                               << " ms; attacker sockets cut "
                               << "by the header timeout and reopened: " << attack.reopened
                               << ", held at the end: " << heldAtEnd);
    CHECK(failures == 0);
    CHECK(latenciesMs.size() > 100);
    // The header timeout, not the attacker, decides how long a slot is held.
    CHECK(attack.reopened >= kSlowSockets);
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
    CHECK(daemon.stop() == 0);
}

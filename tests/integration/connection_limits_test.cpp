// Connection slots an idle client cannot hoard (issue 16, item 1): ~1,030 keep-alive sockets
// that each did one GET /healthz and stayed open filled max_connections for idle_timeout, and
// every other client was refused. Now one address is capped, the slot idle longest makes room
// at the limit, idle connections get a short timeout under pressure, and a client that stops
// reading loses its connection after send_timeout.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
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

// A blocking socket from `source` (a loopback address) to the daemon; -1 on failure.
// receiveBuffer: SO_RCVBUF, set before connecting (0: the default).
int connectFrom(const char* source, std::uint16_t port, int receiveBuffer = 0) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receiveBuffer > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof(receiveBuffer));
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &local.sin_addr);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    timeval timeout{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        return -1;
    }
    return fd;
}

// One GET /healthz on `fd`, keep-alive unless `close`: the status, 0 when the daemon closed
// the connection or nothing came.
int getHealthz(int fd, bool close = false) {
    std::string request =
        std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n") + (close ? "Connection: close\r\n" : "") + "\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        return 0;
    }
    std::string reply;
    char chunk[4096];
    while (reply.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) {
            return 0;
        }
        reply.append(chunk, static_cast<std::size_t>(n));
    }
    return reply.starts_with("HTTP/1.1 ") ? std::atoi(reply.substr(9, 3).c_str()) : 0;
}

// Whether the daemon has closed `fd` (EOF or reset readable without waiting).
bool closedByPeer(int fd) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 0) <= 0) {
        return false;
    }
    char byte = 0;
    return ::recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

// Keep-alive sockets from 127.0.0.1 that each did one GET /healthz and stay open.
struct IdleAttacker {
    std::vector<int> served;  // got the 200 and were kept open
    int refused = 0;          // not served: told 503 (see told) or closed without a reply
    int told = 0;             // refused with a 503

    void open(std::uint16_t port, int sockets) {
        for (int i = 0; i < sockets; ++i) {
            int fd = connectFrom("127.0.0.1", port);
            REQUIRE(fd >= 0);
            int status = getHealthz(fd);
            if (status == 200) {
                served.push_back(fd);
            } else {
                ++refused;
                told += status == 503 ? 1 : 0;
                ::close(fd);
            }
        }
    }
    int stillOpen() const {
        return static_cast<int>(
            std::count_if(served.begin(), served.end(), [](int fd) { return !closedByPeer(fd); }));
    }
    ~IdleAttacker() {
        for (int fd : served) {
            ::close(fd);
        }
    }
};

// Another client, from 127.0.0.2: a fresh connection per request until `stop`.
struct Bystander {
    std::uint16_t port;
    std::atomic<bool> stop{false};
    int requests = 0;
    int failures = 0;
    double slowestMs = 0;

    void run() {
        while (!stop) {
            auto sent = Clock::now();
            int fd = connectFrom("127.0.0.2", port);
            int status = fd >= 0 ? getHealthz(fd, true) : 0;
            if (fd >= 0) {
                ::close(fd);
            }
            slowestMs =
                std::max(slowestMs, std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
            ++requests;
            failures += status == 200 ? 0 : 1;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
};

}  // namespace

TEST_CASE("connection limits: 1,030 idle keep-alive sockets from one address lock nobody out") {
    raiseFileLimit(4096);
    Daemon daemon;  // defaults: max_connections 1024, max_connections_per_address 256
    daemon.start();
    Bystander other{daemon.port()};
    std::thread bystander([&] { other.run(); });
    IdleAttacker attack;
    attack.open(daemon.port(), 1030);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // served after the attack too
    other.stop = true;
    bystander.join();
    MESSAGE("attacker: " << attack.served.size() << " served and kept, " << attack.refused << " refused ("
                         << attack.told << " told 503); 127.0.0.2: " << other.requests << " requests, "
                         << other.failures << " failed, slowest " << other.slowestMs << " ms");
    CHECK(other.failures == 0);
    CHECK(other.requests > 10);
    CHECK(other.slowestMs < 1000);
    // The attacker's address holds its cap, no more, and those it holds stay usable.
    CHECK(attack.served.size() == 256);
    CHECK(attack.refused == 1030 - 256);
    CHECK(attack.stillOpen() == 256);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("connection limits: a connection over the per-address cap is told 503 with Retry-After") {
    Daemon daemon("limits:\n  max_connections_per_address: 2\n");
    daemon.start();
    IdleAttacker held;
    held.open(daemon.port(), 2);
    REQUIRE(held.served.size() == 2);
    // The third: the reply comes without a request (the daemon refuses at accept); the
    // request the client sends meanwhile must not turn it into a reset.
    int fd = connectFrom("127.0.0.1", daemon.port());
    REQUIRE(fd >= 0);
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    std::string reply;
    char chunk[4096];
    for (ssize_t n = 0; (n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0;) {
        reply.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    INFO(reply);
    CHECK(reply.starts_with("HTTP/1.1 503 "));
    CHECK(reply.find("Retry-After: 1\r\n") != std::string::npos);
    CHECK(reply.find("Connection: close\r\n") != std::string::npos);
    auto body = reply.substr(reply.find("\r\n\r\n") + 4);
    CHECK(nlohmann::json::parse(body).value("field", "") == "limits.max_connections_per_address");
    // Another address is not affected, and a freed slot serves this one again.
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 503);  // 127.0.0.1 too
    int other = connectFrom("127.0.0.2", daemon.port());
    REQUIRE(other >= 0);
    CHECK(getHealthz(other, true) == 200);
    ::close(other);
    ::close(held.served.back());
    held.served.pop_back();
    int status = 0;
    for (int i = 0; i < 100 && status != 200; ++i) {  // the daemon notices the close asynchronously
        status = httpRequest(daemon.port(), "GET", "/healthz").status;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    CHECK(status == 200);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("connection limits: at max_connections the connection idle longest makes room") {
    raiseFileLimit(1024);
    Daemon daemon("limits:\n  max_connections: 40\n  max_connections_per_address: 1000\n");
    daemon.start();
    IdleAttacker attack;
    attack.open(daemon.port(), 60);
    // Each newcomer took the slot of the oldest idle one: all were served, and the first
    // ones have been closed.
    CHECK(attack.refused == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int open = attack.stillOpen();
    MESSAGE("60 idle sockets at max_connections 40: " << open << " still open");
    CHECK(open <= 40);
    CHECK(closedByPeer(attack.served.front()));
    CHECK_FALSE(closedByPeer(attack.served.back()));
    for (int i = 0; i < 20; ++i) {
        int fd = connectFrom("127.0.0.2", daemon.port());
        REQUIRE(fd >= 0);
        CHECK(getHealthz(fd, true) == 200);
        ::close(fd);
    }
    CHECK(daemon.stop() == 0);
}

TEST_CASE("connection limits: under pressure idle keep-alive connections get the short idle timeout") {
    Daemon daemon(
        "limits:\n  max_connections: 40\n  max_connections_per_address: 1000\n  idle_timeout_s: 60\n"
        "  idle_timeout_under_pressure_s: 1\n");
    daemon.start();
    // Pressure starts past 3/4 of 40: the first 30 went idle before it (60 s), the last 5
    // under it (1 s). All 35 within a second, so none has idled 1 s when pressure begins.
    IdleAttacker early;
    // The first goes idle clearly before the others, so it is the one idle longest later: the
    // daemon marks a connection idle after its write, and under load that order can differ
    // from the order the client opened them in.
    early.open(daemon.port(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    early.open(daemon.port(), 29);
    // The daemon marks a connection idle just after writing its response, which can be after
    // the client has read it and connected again: let the last one settle before pressure.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    IdleAttacker late;
    late.open(daemon.port(), 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(late.stillOpen() == 0);  // their own short timeout
    CHECK(early.stillOpen() == 30);
    // Pressure again (31 of 40): the admission closes the connection idle longest, past 1 s,
    // which is enough to be back at 3/4.
    IdleAttacker next;
    next.open(daemon.port(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int earlyOpen = early.stillOpen();
    MESSAGE("after pressure returned: " << earlyOpen << " of 30 long-idle connections still open");
    CHECK(closedByPeer(early.served.front()));
    CHECK(earlyOpen == 29);
    CHECK(next.stillOpen() == 1);
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("connection limits: a client that never reads its responses is closed after send_timeout") {
    Daemon daemon("limits:\n  max_connections: 1\n  send_timeout_s: 1\n  body_timeout_s: 30\n");
    daemon.start();
    int stuck = connectFrom("127.0.0.1", daemon.port(), 4096);
    REQUIRE(stuck >= 0);
    // ~200 pipelined requests for the 100 KiB OpenAPI document: far more than the socket
    // buffers hold, and never read.
    std::string pipeline;
    for (int i = 0; i < 200; ++i) {
        pipeline += "GET /api/v1alpha1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    }
    REQUIRE(::send(stuck, pipeline.data(), pipeline.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(pipeline.size()));
    auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // The one slot is held by the stuck writer (busy, so nobody may take it): a newcomer is
    // told so...
    bool closed = false;
    auto refused = rawExchange(daemon.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1000, &closed);
    CHECK(refused.starts_with("HTTP/1.1 503 "));
    CHECK(refused.find(R"("field":"limits.max_connections")") != std::string::npos);
    // ...until send_timeout closes it, well before body_timeout (30 s) would.
    bool served = false;
    while (!served && Clock::now() - start < std::chrono::seconds(10)) {
        try {
            served = httpRequest(daemon.port(), "GET", "/healthz").status == 200;
        } catch (const std::exception&) {
        }
        if (!served) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    auto freedAfter = std::chrono::duration<double>(Clock::now() - start).count();
    MESSAGE("the slot of a client that never reads was free again after " << freedAfter << " s");
    CHECK(served);
    CHECK(freedAfter < 5);
    ::close(stuck);
    CHECK(daemon.stop() == 0);
}

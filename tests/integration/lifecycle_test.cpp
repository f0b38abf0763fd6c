#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "api_helpers.hpp"

using namespace gpuhost::test;
namespace asio = boost::asio;

namespace {

// A socket pretending to be systemd's notify socket.
struct NotifySocket {
    NotifySocket() {
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        path = "/tmp/gpuhost-notify-" + std::to_string(getpid()) + ".sock";
        unlink(path.c_str());
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
        bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
        timeval timeout{5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setenv("NOTIFY_SOCKET", path.c_str(), 1);
    }
    ~NotifySocket() {
        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(path.c_str());
    }
    std::string receive() {
        char buffer[256];
        auto n = recv(fd, buffer, sizeof(buffer), 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    }
    int fd;
    std::string path;
};

int shell(const std::string& command) {
    return std::system(("{ " + command + "; } >/dev/null 2>&1").c_str());
}

}  // namespace

TEST_CASE("lifecycle: READY=1 once listening, STOPPING=1 on SIGTERM, exit 0") {
    NotifySocket notify;
    Daemon daemon;
    daemon.start();
    CHECK(notify.receive().find("READY=1") != std::string::npos);
    CHECK(daemon.stop() == 0);
    CHECK(notify.receive().find("STOPPING=1") != std::string::npos);
    CHECK(daemon.log().find("msg=stopped") != std::string::npos);
}

// libvirt's client raises SIGPIPE when libvirtd dies under a write; it killed the daemon about
// once in 50 runs of the libvirtd-killed test before main ignored it. Sent here directly.
TEST_CASE("lifecycle: SIGPIPE does not kill the daemon") {
    Daemon daemon;
    daemon.start();
    daemon.signal(SIGPIPE);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // time to die, had it been fatal
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("lifecycle: SIGTERM lets an in-flight request finish, then exits 0") {
    Daemon daemon;
    daemon.start();
    asio::io_context ioc;
    asio::ip::tcp::socket socket(ioc);
    socket.connect({asio::ip::make_address("127.0.0.1"), daemon.port()});
    std::string body = R"({"name":"in-flight"})";
    std::string head =
        "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
        std::string(Daemon::kOperatorToken) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    asio::write(socket, asio::buffer(head + body.substr(0, 5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the daemon is now mid-request
    std::thread stopper([&] { CHECK(daemon.stop() == 0); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    asio::write(socket, asio::buffer(body.substr(5)));
    std::string reply;
    boost::system::error_code ec;
    asio::read(socket, asio::dynamic_buffer(reply), ec);  // until the daemon closes
    stopper.join();
    CHECK(reply.rfind("HTTP/1.1 201 Created", 0) == 0);
    CHECK(reply.find("Connection: close") != std::string::npos);
    // It was durable before the reply: the restarted daemon has it.
    daemon.start();
    auto list = httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken));
    CHECK(nlohmann::json::parse(list.body).size() == 1);
}

TEST_CASE("lifecycle: --check-config accepts good configs and names the key in bad ones") {
    Daemon daemon;
    std::string output;
    CHECK(runDaemonCommand("--config " + daemon.configPath().string() + " --check-config", output) == 0);
    std::ofstream(daemon.dir() / "bad.yaml") << "state_dir: /tmp/x\nauth: {tokens: []}\n";
    CHECK(runDaemonCommand("--config " + (daemon.dir() / "bad.yaml").string() + " --check-config", output) ==
          1);
    CHECK(output.find("auth.tokens:") != std::string::npos);
    // A GPU model no inventory reports would leave its type out of stock for ever.
    Daemon unknownGpu(
        "instance_types:\n  - {name: g.1x, cpu: 1, memory: 1Gi, gpu_count: 1, gpu_model: H100}\n");
    CHECK(runDaemonCommand("--config " + unknownGpu.configPath().string() + " --check-config", output) == 1);
    CHECK(output.find("instance_types[0].gpu_model: unknown GPU model \"H100\"") != std::string::npos);
    CHECK(output.find("H100-SXM5-80GB") != std::string::npos);
    Daemon aliasGpu(
        "instance_types:\n  - {name: g.1x, cpu: 1, memory: 1Gi, gpu_count: 1, gpu_model: "
        "NVIDIA-H100-80GB-HBM3}\n");
    CHECK(runDaemonCommand("--config " + aliasGpu.configPath().string() + " --check-config", output) == 0);
    CHECK(runDaemonCommand("--bogus", output) == 2);
    CHECK(runDaemonCommand("--config /nonexistent.yaml", output) == 1);
}

TEST_CASE("lifecycle: plain HTTP off loopback is refused unless explicitly allowed") {
    Daemon insecure({}, "0.0.0.0:0");
    std::string output;
    CHECK(runDaemonCommand("--config " + insecure.configPath().string(), output) == 1);
    CHECK(output.find("listen:") != std::string::npos);
}

TEST_CASE("lifecycle: HTTPS with TLS 1.2+, and SIGHUP swaps the certificate for new connections") {
    if (shell("command -v openssl && command -v curl") != 0) {
        MESSAGE("openssl or curl missing; skipping the TLS test");
        return;
    }
    Daemon probe;
    auto dir = probe.dir();
    auto makeCert = [&](const std::string& name) {
        return shell(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
            "/CN=localhost "
            "-addext subjectAltName=IP:127.0.0.1 -keyout " +
            (dir / (name + ".key")).string() + " -out " + (dir / (name + ".crt")).string());
    };
    REQUIRE(makeCert("one") == 0);
    REQUIRE(makeCert("two") == 0);
    shell("cp " + (dir / "one.crt").string() + " " + (dir / "live.crt").string());
    shell("cp " + (dir / "one.key").string() + " " + (dir / "live.key").string());
    Daemon daemon("tls: {cert: " + (dir / "live.crt").string() + ", key: " + (dir / "live.key").string() +
                  "}\n");
    daemon.start();
    std::string url = "https://127.0.0.1:" + std::to_string(daemon.port()) + "/healthz";
    auto curl = [&](const std::string& ca, const std::string& extra = "") {
        return shell("curl -sf --max-time 5 --cacert " + (dir / ca).string() + " " + extra + " " + url);
    };
    CHECK(curl("one.crt") == 0);
    CHECK(curl("one.crt", "--tlsv1.1 --tls-max 1.1") != 0);
    CHECK(shell("curl -sf --max-time 5 http://127.0.0.1:" + std::to_string(daemon.port()) + "/healthz") != 0);
    shell("cp " + (dir / "two.crt").string() + " " + (dir / "live.crt").string());
    shell("cp " + (dir / "two.key").string() + " " + (dir / "live.key").string());
    CHECK(curl("two.crt") != 0);  // not reloaded yet
    // SIGHUP (the unit's ExecReload) swaps the certificate for new connections.
    daemon.signal(SIGHUP);
    for (int i = 0; i < 50 && daemon.log().find("tls reloaded") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(curl("two.crt") == 0);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("lifecycle: SIGHUP replaces auth.tokens, an invalid file keeps the running ones") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "team");
    Headers newcomer = bearer("newcomer-token");
    newcomer.emplace_back("X-PROJECT-ID", project);
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/instance-types", newcomer).status == 401);

    auto waitForLog = [&](const std::string& text, std::size_t occurrences) {
        for (int i = 0; i < 250; ++i) {
            std::string log = daemon.log();
            std::size_t count = 0;
            for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
                ++count;
            }
            if (count >= occurrences) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    };
    std::ofstream(daemon.configPath())
        << "listen: 127.0.0.1:0\nstate_dir: state\nauth:\n  tokens:\n"
        << "    - {name: newcomer, sha256: " << Daemon::sha256Hex("newcomer-token") << ", projects: ["
        << project << "]}\n";
    daemon.signal(SIGHUP);
    REQUIRE(waitForLog("reloaded auth.tokens", 1));
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/instance-types", newcomer).status == 200);
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).status ==
          401);

    std::ofstream(daemon.configPath()) << "state_dir: state\nauth: {tokens: []}\n";
    daemon.signal(SIGHUP);
    REQUIRE(waitForLog("reload failed", 1));
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/instance-types", newcomer).status == 200);
    CHECK(daemon.stop() == 0);
}

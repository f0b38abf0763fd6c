#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

#include "api_helpers.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

const std::string kSmallLimits =
    "limits:\n  body_bytes: 30000\n  user_data_bytes: 16384\n  header_bytes: 4096\n"
    "  header_timeout_s: 1\n";

std::string statusLine(const std::string& raw) {
    return raw.substr(0, raw.find("\r\n"));
}

std::string projectsCount(std::uint16_t port) {
    return std::to_string(
        json::parse(httpRequest(port, "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body)
            .size());
}

}  // namespace

TEST_CASE("http: bodies over the limit → 413 (declared or streamed), and nothing is stored") {
    Daemon daemon(kSmallLimits);
    daemon.start();
    std::string big = R"({"name":"big","tags":{"k":")" + std::string(40000, 'v') + "\"}}";
    auto declared = httpRequest(daemon.port(), "POST", kBase + "/projects", operatorJson(), big);
    CHECK(declared.status == 413);
    CHECK(json::parse(declared.body).contains("message"));
    std::string chunked = "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          std::string(Daemon::kOperatorToken) +
                          "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i) {
        chunked += "1000\r\n" + std::string(4096, ' ') + "\r\n";
    }
    chunked += "0\r\n\r\n";
    CHECK(statusLine(rawExchange(daemon.port(), chunked)) == "HTTP/1.1 413 Payload Too Large");
    CHECK(projectsCount(daemon.port()) == "0");
}

TEST_CASE("http: 415 without a JSON content type, 405 with Allow, 404 for unknown paths") {
    Daemon daemon;
    daemon.start();
    Headers textPlain = bearer(Daemon::kOperatorToken);
    textPlain.emplace_back("Content-Type", "text/plain");
    CHECK(httpRequest(daemon.port(), "POST", kBase + "/projects", textPlain, R"({"name":"x"})").status ==
          415);
    CHECK(httpRequest(daemon.port(), "POST", kBase + "/projects", bearer(Daemon::kOperatorToken),
                      R"({"name":"x"})")
              .status == 415);
    Headers charset = bearer(Daemon::kOperatorToken);
    charset.emplace_back("Content-Type", "Application/JSON; charset=utf-8");
    CHECK(httpRequest(daemon.port(), "POST", kBase + "/projects", charset, R"({"name":"ok"})").status == 201);
    auto wrong = httpRequest(daemon.port(), "PATCH", kBase + "/projects", bearer(Daemon::kOperatorToken));
    CHECK(wrong.status == 405);
    CHECK(wrong.header("allow") == "POST, GET");
    CHECK(httpRequest(daemon.port(), "GET", kBase + "/nothing-here", bearer(Daemon::kOperatorToken)).status ==
          404);
    CHECK(projectsCount(daemon.port()) == "1");
}

TEST_CASE("http: malformed requests get 400 or a closed connection, the daemon stays up") {
    Daemon daemon(kSmallLimits);
    daemon.start();
    const std::vector<std::string> shapes = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: "
        "7\r\n\r\nhello",
        "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: "
        "chunked\r\n\r\n"
        "0\r\n\r\n",
        "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n",
        std::string("GET /healthz\0 HTTP/1.1\r\n\r\n", 26),
    };
    for (const auto& shape : shapes) {
        CAPTURE(shape.substr(0, 60));
        std::string reply = rawExchange(daemon.port(), shape);
        CHECK((reply.empty() || statusLine(reply).find(" 400 ") != std::string::npos));
    }
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
    CHECK(projectsCount(daemon.port()) == "0");
}

TEST_CASE("http: a client that never finishes its headers is cut off by the header timeout") {
    Daemon daemon(kSmallLimits);
    daemon.start();
    bool closed = false;
    std::string reply = rawExchange(daemon.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n", 5000, &closed);
    CHECK(closed);
    CHECK(reply.empty());
    CHECK(httpRequest(daemon.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("http: keep-alive serves many requests on one connection, request ids are echoed") {
    Daemon daemon;
    daemon.start();
    Connection connection(daemon.port());
    for (int i = 0; i < 20; ++i) {
        Headers headers = bearer(Daemon::kOperatorToken);
        headers.emplace_back("X-Request-Id", "req-" + std::to_string(i));
        auto response = connection.request("GET", kBase + "/projects", headers);
        CHECK(response.status == 200);
        CHECK(response.header("x-request-id") == "req-" + std::to_string(i));
    }
    auto generated = connection.request("GET", "/healthz");
    CHECK(generated.header("x-request-id").size() == 16);
    CHECK(daemon.log().find("req_id=req-7") != std::string::npos);
}

TEST_CASE("http: /metrics reports requests by route template and resources by state") {
    Daemon daemon;
    daemon.start();
    auto id = createProject(daemon.port(), "metered");
    httpRequest(daemon.port(), "GET", kBase + "/projects/" + id, bearer(Daemon::kOperatorToken));
    auto metrics = httpRequest(daemon.port(), "GET", "/metrics", bearer(Daemon::kOperatorToken));
    REQUIRE(metrics.status == 200);
    CHECK(metrics.header("content-type") == "text/plain; version=0.0.4");
    CHECK(
        metrics.body.find("gpuhost_http_requests_total{route=\"/api/v1alpha1/projects/{id}\",method=\"GET\","
                          "status=\"200\"} 1") != std::string::npos);
    CHECK(metrics.body.find("gpuhost_resources{kind=\"project\",state=\"active\"} 1") != std::string::npos);
    CHECK(
        metrics.body.find("gpuhost_store_operation_duration_seconds_count{operation=\"insert_project\"} 1") !=
        std::string::npos);
    CHECK(metrics.body.find(id) == std::string::npos);  // ids never become label values
}

TEST_CASE("http: the OpenAPI document is served as JSON") {
    Daemon daemon;
    daemon.start();
    auto response = httpRequest(daemon.port(), "GET", kBase + "/openapi.json");
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body).at("info").at("version") == "v1alpha1");
}

TEST_CASE("http: past max_connections new sockets are closed at once, capacity returns when one leaves") {
    Daemon daemon("limits:\n  max_connections: 4\n  header_timeout_s: 30\n");
    daemon.start();
    std::vector<std::unique_ptr<Connection>> held;
    for (int i = 0; i < 4; ++i) {
        held.push_back(std::make_unique<Connection>(daemon.port()));
        CHECK(held.back()->request("GET", "/healthz").status == 200);  // each is accepted and served
    }
    bool closed = false;
    std::string reply = rawExchange(daemon.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 3000, &closed);
    CHECK(closed);
    CHECK(reply.empty());
    held.pop_back();
    std::string answered;
    for (int i = 0; i < 50 && answered.empty(); ++i) {  // the server notices the close asynchronously
        answered =
            rawExchange(daemon.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if (answered.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    CHECK(answered.rfind("HTTP/1.1 200 OK", 0) == 0);
}

TEST_CASE("http: on a keep-alive connection the next request's header must also beat the header timeout") {
    Daemon daemon("limits:\n  header_timeout_s: 1\n  idle_timeout_s: 30\n");
    daemon.start();
    bool closed = false;
    // One whole request, then the start of another that never finishes: cut off after
    // header_timeout (1 s), not idle_timeout (30 s); the client gives up after 5 s.
    std::string reply = rawExchange(
        daemon.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n", 5000,
        &closed);
    CHECK(closed);
    CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
}

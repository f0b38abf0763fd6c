// Request smuggling through Transfer-Encoding and credentials in chunked trailers (issue 16,
// items 4 and 5 of the finding). Each shape must get one 400, a closed connection, and no
// effect: the bytes behind the header never run as a request, and no trailer field counts.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "api_helpers.hpp"
#include "bad_input_corpus.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

const std::string kAuth = std::string("Authorization: Bearer ") + Daemon::kOperatorToken + "\r\n";

std::size_t projectCount(std::uint16_t port) {
    return json::parse(httpRequest(port, "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body)
        .size();
}

// Exactly one answer, a 400, and the daemon closed the connection after it.
void checkRefusedAndClosed(std::uint16_t port, const std::string& request) {
    bool closed = false;
    std::string reply = rawExchange(port, request, 4000, &closed);
    auto responses = parseResponses(reply);
    REQUIRE_MESSAGE(responses.size() == 1, "responses: " << responses.size() << "\n" << reply.substr(0, 400));
    CHECK(responses.front().status == 400);
    CHECK(responses.front().headers["connection"] == "close");
    CHECK(closed);
}

// A request smuggled in the body: it would add a project if it ran.
const std::string kSmuggledPost = "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                  "Content-Type: application/json\r\nContent-Length: 20\r\n\r\n"
                                  "{\"name\":\"smuggled\"}\n";

}  // namespace

TEST_CASE("hostile http: a Transfer-Encoding other than a lone chunked → 400, close, body never runs") {
    Daemon daemon;
    daemon.start();
    const std::vector<std::string> codings = {
        "gzip",          "identity",         "",           "xchunked", "chunked, identity",
        "gzip, chunked", "chunked, chunked", " chunked x",
    };
    SUBCASE("one Transfer-Encoding field that is not a lone chunked") {
        for (const auto& coding : codings) {
            CAPTURE(coding);
            checkRefusedAndClosed(daemon.port(),
                                  "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                      "Content-Type: application/json\r\nTransfer-Encoding: " + coding +
                                      "\r\n\r\n" + kSmuggledPost);
        }
    }
    SUBCASE("two Transfer-Encoding fields, the last chunked") {
        checkRefusedAndClosed(daemon.port(), "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                                 "Content-Type: application/json\r\nTransfer-Encoding: "
                                                 "gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                                                 kSmuggledPost);
    }
    SUBCASE("Transfer-Encoding beside Content-Length (the coding unknown, so no parser error)") {
        std::string body = R"({"name":"te-and-cl"})";
        checkRefusedAndClosed(daemon.port(), "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                                 "Content-Type: application/json\r\nTransfer-Encoding: "
                                                 "gzip\r\nContent-Length: " +
                                                 std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    SUBCASE("any Transfer-Encoding on HTTP/1.0, chunked included") {
        checkRefusedAndClosed(daemon.port(),
                              "POST /api/v1alpha1/projects HTTP/1.0\r\nHost: x\r\n" + kAuth +
                                  "Content-Type: application/json\r\nTransfer-Encoding: "
                                  "chunked\r\n\r\n14\r\n{\"name\":\"te-http10\"}\r\n0\r\n\r\n");
    }
    CHECK(projectCount(daemon.port()) == 0);
    CHECK(daemon.stop() == 0);
}

TEST_CASE("hostile http: the repro: a GET hidden in a `chunked, identity` body gets no second 200") {
    Daemon daemon;
    daemon.start();
    createProject(daemon.port(), "visible");
    std::string request = "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                          "GET /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" +
                          kAuth + "\r\n";
    bool closed = false;
    std::string reply = rawExchange(daemon.port(), request, 4000, &closed);
    auto responses = parseResponses(reply);
    REQUIRE(responses.size() == 1);  // before the fix: 400, then 200 with the project list
    CHECK(responses.front().status == 400);
    CHECK(json::parse(responses.front().body).at("field") == "Transfer-Encoding");
    CHECK(reply.find("visible") == std::string::npos);
    CHECK(closed);
}

TEST_CASE("hostile http: fields in a chunked trailer never count: 400 and close") {
    Daemon daemon;
    daemon.start();
    auto project = createProject(daemon.port(), "trailers");
    const std::string chunkedGet =
        "GET /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n";
    SUBCASE("Authorization in the trailer of a request without one (the repro answered 200)") {
        checkRefusedAndClosed(daemon.port(), chunkedGet + "\r\n0\r\n" + kAuth + "\r\n");
    }
    SUBCASE("X-PROJECT-ID in the trailer") {
        checkRefusedAndClosed(daemon.port(), "GET /api/v1alpha1/instances HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                                 "Transfer-Encoding: chunked\r\n\r\n0\r\nX-PROJECT-ID: " +
                                                 project + "\r\n\r\n");
    }
    SUBCASE("Content-Type in the trailer of a create") {
        checkRefusedAndClosed(daemon.port(), "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                                 "Transfer-Encoding: chunked\r\n\r\n"
                                                 "12\r\n{\"name\":\"trailer\"}\r\n"
                                                 "0\r\nContent-Type: application/json\r\n\r\n");
        CHECK(projectCount(daemon.port()) == 1);
    }
    SUBCASE("a second Host in the trailer") {
        checkRefusedAndClosed(daemon.port(), chunkedGet + kAuth + "\r\n0\r\nHost: elsewhere\r\n\r\n");
    }
    SUBCASE("a harmless trailer field on an authorized request") {
        checkRefusedAndClosed(daemon.port(), chunkedGet + kAuth + "\r\n0\r\nX-Checksum: abc\r\n\r\n");
    }
    SUBCASE("control: the same chunked requests without a trailer are served") {
        auto reply = parseResponses(
            rawExchange(daemon.port(), chunkedGet + kAuth + "Connection: close\r\n\r\n0\r\n\r\n"));
        REQUIRE(reply.size() == 1);
        CHECK(reply.front().status == 200);
        reply = parseResponses(
            rawExchange(daemon.port(), "POST /api/v1alpha1/projects HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                           "Content-Type: application/json\r\nConnection: "
                                           "close\r\nTransfer-Encoding: chunked\r\n\r\n"
                                           "12\r\n{\"name\":\"chunked\"}\r\n0\r\n\r\n"));
        REQUIRE(reply.size() == 1);
        CHECK(reply.front().status == 201);
    }
    CHECK(daemon.stop() == 0);
}

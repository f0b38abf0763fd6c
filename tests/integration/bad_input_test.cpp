// The bad-input corpus against a real daemon: each case gets the status it should (or a
// closed connection), the daemon keeps answering, and nothing any case sent changes the
// store. Cases live in tests/fixtures/bad-input/*.jsonl; a new line is a new check.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "api_helpers.hpp"
#include "bad_input_corpus.hpp"

using namespace gpuhost::test;
using nlohmann::json;

namespace {

// Small limits keep every case quick: slow clients are cut off after a second. The body
// limit still holds 4 MiB, so multi-megabyte strings reach the validators.
const std::string kLimits =
    "limits:\n  body_bytes: 4194304\n  user_data_bytes: 16384\n  header_bytes: 8192\n"
    "  header_timeout_s: 1\n  body_timeout_s: 1\n  idle_timeout_s: 1\n";

struct Exchange {
    std::string reply;
    bool closed = false;  // the daemon closed the connection (not our timeout)
};

// Writes on one thread while reading on this one: a daemon that answers 413 before the
// whole upload is sent is read, not lost to a reset. drip: one byte per pause. stall:
// keep the sending side open after the bytes (else it is half-closed, as a client does).
Exchange exchange(std::uint16_t port, const std::string& bytes, int timeoutMs, int dripMs, bool stall) {
    int fd = connectLoopback(port);
    if (fd < 0) {
        throw std::runtime_error("connect failed: is the daemon down?");
    }
    std::thread writer([fd, &bytes, dripMs, stall] {
        std::size_t step = dripMs > 0 ? 1 : bytes.size();
        for (std::size_t at = 0; at < bytes.size();) {
            ssize_t sent = ::send(fd, bytes.data() + at, std::min(step, bytes.size() - at), MSG_NOSIGNAL);
            if (sent <= 0) {
                return;
            }
            at += static_cast<std::size_t>(sent);
            if (dripMs > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(dripMs));
            }
        }
        if (!stall) {
            ::shutdown(fd, SHUT_WR);  // done sending: the daemon need not wait to drain us
        }
    });
    Exchange result;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    char chunk[16384];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        pollfd ready{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
            break;  // our timeout: the daemon kept the connection open
        }
        ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) {
            result.closed = true;  // EOF, or a reset after the reply
            break;
        }
        result.reply.append(chunk, static_cast<std::size_t>(n));
    }
    ::shutdown(fd, SHUT_RDWR);  // wakes a writer blocked on a full socket
    writer.join();
    ::close(fd);
    return result;
}

// Everything a client can see of the store, bodies included.
std::string storeSnapshot(std::uint16_t port, const std::vector<std::string>& projects) {
    std::string snapshot = httpRequest(port, "GET", kBase + "/projects", bearer(Daemon::kOperatorToken)).body;
    for (const auto& project : projects) {
        for (const char* list : {"/instances", "/filesystems"}) {
            auto response = httpRequest(port, "GET", kBase + list, inProject(project));
            snapshot += "\n" + std::to_string(response.status) + " " + response.body;
        }
    }
    return snapshot;
}

bool healthy(std::uint16_t port) {
    try {
        return httpRequest(port, "GET", "/healthz").status == 200;
    } catch (const std::exception&) {
        return false;
    }
}

// What is wrong with the outcome of one case; empty when it is right.
std::string mismatch(const json& expect, const Exchange& got) {
    auto responses = parseResponses(got.reply);
    std::string seen = responses.empty() ? (got.closed ? "closed without a reply" : "no reply, still open")
                                         : "status " + std::to_string(responses.front().status);
    if (expect.value("close", false)) {
        return got.reply.empty() && got.closed ? "" : "expected a closed connection, got " + seen;
    }
    int status = expect.at("status").get<int>();
    if (responses.empty() || responses.front().status != status) {
        return "expected " + std::to_string(status) + ", got " + seen + ": " + got.reply.substr(0, 200);
    }
    if (responses.size() != 1) {
        return "expected one response, got " + std::to_string(responses.size()) + " (a smuggled request?)";
    }
    const auto& response = responses.front();
    if (status < 400) {
        return "";
    }
    json body = json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("message") || !body.at("message").is_string()) {
        return "error body is not {\"message\": ...}: " + response.body.substr(0, 200);
    }
    if (expect.contains("field") && body.value("field", json()) != expect.at("field")) {
        return "expected field " + expect.at("field").dump() + ", got " + body.value("field", json()).dump() +
               " (" + body.at("message").get<std::string>() + ")";
    }
    if (status == 401 && response.headers.count("www-authenticate") == 0) {
        return "401 without WWW-Authenticate";
    }
    if (status == 405 && response.headers.count("allow") == 0) {
        return "405 without Allow";
    }
    return "";
}

std::string createdId(const HttpResponse& response) {
    if (response.status != 201) {
        throw std::runtime_error("setup failed: " + std::to_string(response.status) + " " + response.body);
    }
    return json::parse(response.body).at("id").get<std::string>();
}

std::string filesystemState(std::uint16_t port, const std::string& project, const std::string& id) {
    auto response = httpRequest(port, "GET", kBase + "/filesystems/" + id, inProject(project));
    return json::parse(response.body, nullptr, false).value("state", "");
}

}  // namespace

TEST_CASE("bad input: every corpus case gets its status, the daemon stays up, the store is unchanged") {
    const auto cases = loadCorpus();
    REQUIRE(cases.size() >= 150);
    Daemon daemon(kLimits);
    daemon.start();
    const auto port = daemon.port();
    auto project = createProject(port, "corpus");
    auto other = createProject(port, "corpus-other");
    auto filesystem = createdId(httpRequest(port, "POST", kBase + "/filesystems", inProject(project, true),
                                            R"({"name":"shared","size":"1Gi"})"));
    for (int i = 0; i < 200 && filesystemState(port, project, filesystem) != "available"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto instance =
        createdId(httpRequest(port, "POST", kBase + "/instances", inProject(project, true),
                              R"({"name":"target","type":"cpu.small","image":"image://ubuntu22.04",)"
                              R"("filesystems":[")" +
                                  filesystem + "\"]}"));
    auto settled = waitForState(port, project, instance, "running");
    REQUIRE_MESSAGE(settled.is_object(), "the target instance never ran");
    const std::map<std::string, std::string> values = {
        {"project", project},
        {"other_project", other},
        {"instance", instance},
        {"filesystem", filesystem},
        {"unknown_id", "00000000-0000-4000-8000-000000000000"},
        {"operator_token", Daemon::kOperatorToken},
        {"limited_token", Daemon::kLimitedToken},
    };
    // Settled (the instance's address and the like may still arrive after "running"): two
    // snapshots in a row agree, so a change below is a case's doing.
    auto before = storeSnapshot(port, {project, other});
    for (int i = 0; i < 100; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto again = storeSnapshot(port, {project, other});
        if (again == before) {
            break;
        }
        before = std::move(again);
    }
    REQUIRE(storeSnapshot(port, {project, other}) == before);

    std::size_t failures = 0;
    for (const auto& entry : cases) {
        const auto& spec = entry.spec;
        Exchange got;
        try {
            got = exchange(port, requestBytes(spec, values), spec.value("timeout_ms", 4000),
                           spec.value("drip_ms", 0), spec.value("stall", false) || spec.contains("drip_ms"));
        } catch (const std::exception& e) {
            got.reply = std::string("exchange failed: ") + e.what();
        }
        auto wrong = mismatch(spec.at("expect"), got);
        bool up = healthy(port);
        wrong += up ? "" : " | /healthz no longer answers";
        failures += wrong.empty() ? 0 : 1;
        CHECK_MESSAGE(wrong.empty(), entry.where, " ", entry.name(), ": ", wrong);
        if (!up) {
            break;  // the rest would only repeat it
        }
    }
    MESSAGE(cases.size(), " cases, ", failures, " mismatches");
    CHECK(storeSnapshot(port, {project, other}) == before);
    CHECK(daemon.log().find("internal error") == std::string::npos);
    CHECK(daemon.stop() == 0);  // and it still shuts down cleanly
}

// The guest agent's JSON as gpuhost builds and parses it (drivers/libvirt/guest_agent_json):
// replies come from inside a guest the user controls, so every odd one is an Internal
// error that names what was wrong, never a crash or an exception.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "libvirt/guest_agent_json.hpp"

using namespace gpuhost;
using namespace gpuhost::drivers::libvirt;
using nlohmann::json;
using namespace std::literals;

TEST_CASE("guest agent json: guest-exec carries argv as path + arg, stdin as base64, capture-output") {
    auto command = json::parse(*guestExecCommand({{"/bin/cat", "-", "a b"}, "hi\0there"s, std::nullopt}));
    CHECK(command["execute"] == "guest-exec");
    CHECK(command["arguments"]["path"] == "/bin/cat");
    CHECK(command["arguments"]["arg"] == json::array({"-", "a b"}));
    CHECK(command["arguments"]["capture-output"] == true);
    CHECK(command["arguments"]["input-data"] == encodeBase64("hi\0there"s));
    CHECK_FALSE(command["arguments"].contains("env"));

    auto bare = json::parse(*guestExecCommand({{"true"}, {}, std::vector<std::string>{"LANG=C"}}));
    CHECK_FALSE(bare["arguments"].contains("arg"));
    CHECK_FALSE(bare["arguments"].contains("input-data"));
    CHECK(bare["arguments"]["env"] == json::array({"LANG=C"}));
    // Not UTF-8: refused, not altered (stdin is base64, so any bytes go there).
    auto latin1 = guestExecCommand({{"/bin/touch", "/tmp/caf\xe9"}, {}, std::nullopt});
    REQUIRE_FALSE(latin1.ok());
    CHECK(latin1.error().code == model::ErrorCode::InvalidArgument);
    CHECK(guestExecCommand({{"/bin/true"}, "\xe9\xff"s, std::nullopt}).ok());
    CHECK(json::parse(guestExecStatusCommand(42))["arguments"]["pid"] == 42);
    CHECK(json::parse(guestPingCommand())["execute"] == "guest-ping");
}

TEST_CASE("guest agent json: base64 both ways, strict on the way in") {
    for (std::string text : {""s, "a"s, "ab"s, "abc"s, "\0\xff\x10"s, std::string(1000, 'x')}) {
        auto round = decodeBase64(encodeBase64(text), "out-data");
        REQUIRE(round.ok());
        CHECK(*round == text);
    }
    CHECK(*decodeBase64("aGk=", "x") == "hi");
    for (auto bad : {"aGk", "aG k=", "a===", "aGk=\n", "****"}) {
        auto decoded = decodeBase64(bad, "out-data");
        REQUIRE_FALSE(decoded.ok());
        CHECK(decoded.error().code == model::ErrorCode::Internal);
        CHECK(decoded.error().message.find("out-data") != std::string::npos);
    }
}

TEST_CASE("guest agent json: guest-exec-status replies that qemu-guest-agent sends") {
    auto running = parseGuestExecStatusReply(R"({"return":{"exited":false}})");
    REQUIRE(running.ok());
    CHECK_FALSE(running->exited);
    CHECK_FALSE(running->exitCode);

    auto done = parseGuestExecStatusReply(
        R"({"return":{"exitcode":1,"out-data":"aGk=","err-data":"b29wcwo=","exited":true,"err-truncated":true}})");
    REQUIRE_MESSAGE(done.ok(), (done.ok() ? std::string() : done.error().message));
    CHECK(done->exited);
    CHECK(done->exitCode == 1);
    CHECK_FALSE(done->signal);
    CHECK(done->stdOut == "hi");
    CHECK(done->stdErr == "oops\n");
    CHECK_FALSE(done->stdOutTruncated);
    CHECK(done->stdErrTruncated);

    auto killed = parseGuestExecStatusReply(R"({"return":{"exited":true,"signal":9}})");
    REQUIRE(killed.ok());
    CHECK(killed->signal == 9);
    CHECK_FALSE(killed->exitCode);
    CHECK(killed->stdOut.empty());

    CHECK(*parseGuestExecReply(R"({"return":{"pid":4242}})") == 4242);
    CHECK(parseGuestPingReply(R"({"return":{}})").ok());
}

TEST_CASE("guest agent json: odd replies are Internal errors naming the problem") {
    struct Case {
        const char* reply;
        const char* says;
    };
    for (auto [reply, says] : {
             Case{"", "not a JSON object"},
             Case{"not json", "not a JSON object"},
             Case{"[1,2]", "not a JSON object"},
             Case{"{\"return\":{\"exited\":tru", "not a JSON object"},
             Case{"{\"return\":{\"exited\":\"\xff\"}}", "not a JSON object"},  // invalid UTF-8
             Case{"{}", "no \"return\""},
             Case{R"({"error":{"class":"GenericError","desc":"Invalid parameter 'pid'"}})",
                  "Invalid parameter"},
             Case{R"({"error":"weird"})", "is an error"},
             Case{R"({"return":[]})", "not an object"},
             Case{R"({"return":{}})", "\"exited\""},
             Case{R"({"return":{"exited":"yes"}})", "\"exited\""},
             Case{R"({"return":{"exited":1}})", "\"exited\""},
             Case{R"({"return":{"exited":true}})", "without \"exitcode\" or \"signal\""},
             Case{R"({"return":{"exited":true,"exitcode":"0"}})", "\"exitcode\" is not an integer"},
             Case{R"({"return":{"exited":true,"exitcode":1.5}})", "\"exitcode\" is not an integer"},
             Case{R"({"return":{"exited":true,"exitcode":99999999999}})", "\"exitcode\" is out of range"},
             Case{R"({"return":{"exited":true,"exitcode":18446744073709551615}})",
                  "\"exitcode\" is out of range"},
             Case{R"({"return":{"exited":true,"exitcode":-99999999999}})", "\"exitcode\" is out of range"},
             Case{R"({"return":{"exited":true,"signal":null}})", "\"signal\" is not an integer"},
             Case{R"({"return":{"exited":true,"exitcode":0,"out-data":5}})", "\"out-data\" is not a string"},
             Case{R"({"return":{"exited":true,"exitcode":0,"out-data":"a"}})", "out-data that is not base64"},
             Case{R"({"return":{"exited":true,"exitcode":0,"err-data":"!!!!"}})",
                  "err-data that is not base64"},
             Case{R"({"return":{"exited":true,"exitcode":0,"out-truncated":"no"}})",
                  "\"out-truncated\" is not a boolean"},
         }) {
        CAPTURE(reply);
        auto parsed = parseGuestExecStatusReply(reply);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().code == model::ErrorCode::Internal);
        CHECK_MESSAGE(parsed.error().message.find(says) != std::string::npos, parsed.error().message);
    }
    for (auto reply : {R"({"return":{}})", R"({"return":{"pid":"1"}})", R"({"return":{"pid":-1}})",
                       R"({"return":5})", "x"}) {
        CAPTURE(reply);
        auto pid = parseGuestExecReply(reply);
        REQUIRE_FALSE(pid.ok());
        CHECK(pid.error().code == model::ErrorCode::Internal);
    }
    CHECK_FALSE(parseGuestPingReply("{}").ok());
    CHECK_FALSE(parseGuestPingReply(R"({"error":{"desc":"x"}})").ok());
}

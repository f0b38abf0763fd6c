// The async guest-exec layer over the scriptable fake agent: polling until exit, output
// caps, timeouts that kill by pid, an agent that is not there, and writeFile's argv and
// checks. Poll intervals are a few milliseconds here; the layer's defaults are 100 ms → 1 s.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "fakes/fake_guest_agent.hpp"
#include "services/guest_exec.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;
using namespace std::literals;
using gpuhost::test::runCoroutine;

namespace {

struct Fixture {
    test::FakeGuestAgent agent;
    agent::BlockingPool pool{1};  // one thread: a layer that held it while waiting would serialize
    agent::GuestExecLimits limits{
        .outputCap = 1 << 20, .inputCap = 1 << 20, .firstPoll = 1ms, .maxPoll = 8ms, .reapWait = 500ms};

    agent::GuestTarget target() { return {&agent, &pool, "gpuhost-vm"}; }
    model::Result<agent::ExecResult> exec(std::vector<std::string> argv, std::string input = {},
                                          std::chrono::milliseconds timeout = 10s) {
        return runCoroutine(agent::exec(target(), std::move(argv), std::move(input), timeout, limits));
    }
};

}  // namespace

TEST_CASE("guest exec: polls until the program exits and returns its exit code, output and stdin's echo") {
    Fixture f;
    f.agent.script({"/bin/cat"}, {.pollsUntilExit = 3, .echoInput = true});
    auto result = f.exec({"/bin/cat"}, "hello\0world"s);
    REQUIRE_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().message));
    CHECK(result->exitCode == 0);
    CHECK_FALSE(result->signal);
    CHECK(result->stdOut == "hello\0world"s);
    CHECK(result->succeeded());
    CHECK_FALSE(result->timedOut);
    CHECK(f.agent.polls() == 4);
    REQUIRE(f.agent.started().size() == 1);
    CHECK(f.agent.started()[0].domain == "gpuhost-vm");
    CHECK(f.agent.running() == 0);
}

TEST_CASE("guest exec: a non-zero exit is a result with its stderr, not an error") {
    Fixture f;
    f.agent.script({"false"}, {.exitCode = 1, .stdErr = "nope\n"});
    auto result = f.exec({"false"});
    REQUIRE(result.ok());
    CHECK(result->exitCode == 1);
    CHECK(result->stdErr == "nope\n");
    CHECK_FALSE(result->succeeded());
}

TEST_CASE("guest exec: output beyond the cap is cut and reported, per stream, and the agent's own cut too") {
    Fixture f;
    f.limits.outputCap = 8;
    f.agent.script({"big"}, {.stdOut = std::string(20, 'o'), .stdErr = "short"});
    auto result = f.exec({"big"});
    REQUIRE(result.ok());
    CHECK(result->stdOut == std::string(8, 'o'));
    CHECK(result->stdOutTruncated);
    CHECK(result->stdErr == "short");
    CHECK_FALSE(result->stdErrTruncated);

    f.agent.script({"huge"}, {.stdOut = "abc", .stdOutTruncated = true});
    auto agentCut = f.exec({"huge"});
    REQUIRE(agentCut.ok());
    CHECK(agentCut->stdOutTruncated);
}

TEST_CASE(
    "guest exec: past the timeout the program is killed by pid with argv and the result says timedOut") {
    Fixture f;
    f.agent.script({"sleep", "600"}, {.neverExits = true});
    auto result = f.exec({"sleep", "600"}, {}, 50ms);
    REQUIRE_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().message));
    CHECK(result->timedOut);
    CHECK(result->signal == 9);
    CHECK_FALSE(result->exitCode);
    CHECK_FALSE(result->succeeded());
    auto started = f.agent.started();
    REQUIRE(started.size() == 2);
    CHECK(started[1].argv == std::vector<std::string>{"kill", "-KILL", "1000"});
    CHECK(f.agent.running() == 0);  // both the program and kill were reaped
}

TEST_CASE("guest exec: waiting holds no pool thread, so a short command finishes while a long one waits") {
    Fixture f;
    f.agent.script({"long"}, {.neverExits = true});
    f.agent.script({"short"}, {.stdOut = "done", .pollsUntilExit = 2});
    boost::asio::io_context ioc;
    auto whenDone = [&](std::vector<std::string> argv, std::chrono::milliseconds timeout) {
        return boost::asio::co_spawn(
            ioc, test::asOptional(agent::exec(f.target(), std::move(argv), {}, timeout, f.limits)),
            boost::asio::use_future);
    };
    auto longRun = whenDone({"long"}, 2s);
    auto shortRun = whenDone({"short"}, 2s);
    // Runs until the short one is done: the long one is still polling then.
    while (shortRun.wait_for(0s) != std::future_status::ready) {
        ioc.run_one();
    }
    auto shortResult = shortRun.get();
    REQUIRE(shortResult->ok());
    CHECK((*shortResult)->stdOut == "done");
    CHECK(longRun.wait_for(0s) != std::future_status::ready);
    ioc.run();
    auto longResult = longRun.get();
    REQUIRE(longResult->ok());
    CHECK((*longResult)->timedOut);
}

TEST_CASE("guest exec: an agent that is not connected is Unavailable, a missing program says so") {
    Fixture f;
    f.agent.setConnected(false);
    auto down = f.exec({"true"});
    REQUIRE_FALSE(down.ok());
    CHECK(down.error().code == model::ErrorCode::Unavailable);
    auto pinged = runCoroutine(agent::ping(f.target()));
    REQUIRE_FALSE(pinged.ok());
    CHECK(pinged.error().code == model::ErrorCode::Unavailable);

    f.agent.setConnected(true);
    CHECK(runCoroutine(agent::ping(f.target())).ok());
    auto missing = f.exec({"/no/such/program"});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == model::ErrorCode::Internal);
    CHECK(missing.error().message.find("No such file or directory") != std::string::npos);
}

TEST_CASE("guest exec: a moment of agent silence is polled through, an odd reply fails the exec") {
    Fixture f;
    f.agent.script({"true"}, {.pollsUntilExit = 1});
    f.agent.failPolls(2, {model::ErrorCode::Unavailable, "Guest agent not available for now", {}});
    auto result = f.exec({"true"});
    REQUIRE_MESSAGE(result.ok(), (result.ok() ? std::string() : result.error().message));
    CHECK(result->exitCode == 0);

    f.agent.failPolls(1, model::Error::internal("guest-exec-status: \"exited\" is missing or not a boolean"));
    auto odd = f.exec({"true"});
    REQUIRE_FALSE(odd.ok());
    CHECK(odd.error().message.find("exited") != std::string::npos);
}

TEST_CASE("guest exec: empty argv and oversized stdin are refused before anything runs") {
    Fixture f;
    CHECK(f.exec({}).error().code == model::ErrorCode::InvalidArgument);
    CHECK(f.exec({""}).error().code == model::ErrorCode::InvalidArgument);
    f.limits.inputCap = 4;
    CHECK(f.exec({"cat"}, "12345").error().field == "stdin");
    CHECK(f.agent.started().empty());
}

TEST_CASE("guest writeFile: one install with argv only, the bytes on stdin, mode in octal") {
    Fixture f;
    std::vector<std::string> install{"install",
                                     "-D",
                                     "-m",
                                     "0640",
                                     "-o",
                                     "root",
                                     "-g",
                                     "adm",
                                     "--",
                                     "/dev/stdin",
                                     "/etc/gpuhost/x y; rm -rf ~"};
    f.agent.script(install, {});
    agent::GuestFile file{
        .path = "/etc/gpuhost/x y; rm -rf ~", .bytes = "key\n", .mode = 0640, .group = "adm"};
    auto written = runCoroutine(agent::writeFile(f.target(), file, 10s, f.limits));
    REQUIRE_MESSAGE(written.ok(), (written.ok() ? std::string() : written.error().message));
    auto started = f.agent.started();
    REQUIRE(started.size() == 1);
    CHECK(started[0].argv == install);
    CHECK(started[0].input == "key\n");

    f.agent.script(install, {.exitCode = 1, .stdErr = "install: invalid user 'root'"});
    auto failed = runCoroutine(agent::writeFile(f.target(), file, 10s, f.limits));
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == model::ErrorCode::Internal);
    CHECK(failed.error().message.find("invalid user") != std::string::npos);
}

TEST_CASE("guest writeFile: path, mode, owner and group are checked") {
    auto check = [](agent::GuestFile file, const char* field) {
        auto valid = agent::validateGuestFile(file);
        REQUIRE_FALSE(valid.ok());
        CHECK(valid.error().field == field);
    };
    check({.path = "relative/file"}, "path");
    check({.path = ""}, "path");
    check({.path = "/etc/"}, "path");
    check({.path = std::string("/etc/a\0b", 8)}, "path");
    check({.path = "/etc/x", .mode = 010000}, "mode");
    check({.path = "/etc/x", .owner = "Root"}, "owner");
    check({.path = "/etc/x", .owner = "a;b"}, "owner");
    check({.path = "/etc/x", .owner = "-o"}, "owner");
    check({.path = "/etc/x", .owner = std::string(33, 'a')}, "owner");
    check({.path = "/etc/x", .group = ""}, "group");
    CHECK(agent::validateGuestFile({.path = "/home/slurm-user_1/.ssh/authorized_keys",
                                    .mode = 04755,
                                    .owner = "slurm-user_1",
                                    .group = "_ssh"})
              .ok());
    Fixture f;
    auto refused = runCoroutine(agent::writeFile(f.target(), {.path = "x"}, 1s, f.limits));
    CHECK(refused.error().code == model::ErrorCode::InvalidArgument);
    CHECK(f.agent.started().empty());
}

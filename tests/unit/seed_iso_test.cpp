#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include <fstream>
#include <sstream>
#include "support/temp_dir.hpp"

#include "process/process.hpp"
#include "seed/seed_iso.hpp"

using namespace gpuhost;
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("process: arguments reach the program verbatim, never through a shell") {
    auto echo = drivers::runProcess({"echo", "$(id)", "a;b", "`x`", "'q'"});
    REQUIRE(echo.ok());
    CHECK(echo->exitCode == 0);
    CHECK(echo->output == "$(id) a;b `x` 'q'\n");
    auto failing = drivers::runProcess({"sh", "-c", "echo oops >&2; exit 3"});
    REQUIRE(failing.ok());
    CHECK(failing->exitCode == 3);
    CHECK(failing->output == "oops\n");
    auto slow = drivers::runProcess({"sleep", "5"}, std::chrono::milliseconds(200));
    REQUIRE(slow.ok());
    CHECK(slow->timedOut);
    CHECK(slow->exitCode == -1);
    CHECK_FALSE(drivers::runProcess({"/nonexistent/binary"}).ok());
}

TEST_CASE("process: the child inherits no descriptors but 0-2, and a timeout holds after EOF") {
    int leaky = socket(AF_INET, SOCK_STREAM, 0);  // no CLOEXEC, like Asio's sockets
    REQUIRE(leaky >= 0);
    auto listing = drivers::runProcess({"ls", "/proc/self/fd"});
    close(leaky);
    REQUIRE(listing.ok());
    CHECK(listing->output == "0\n1\n2\n3\n");  // 3 is ls's own handle on the folder
    auto silent =
        drivers::runProcess({"sh", "-c", "exec >/dev/null 2>&1; sleep 5"}, std::chrono::milliseconds(300));
    REQUIRE(silent.ok());
    CHECK(silent->timedOut);
}

TEST_CASE("process: a child gets SIGPIPE at its default although the daemon ignores it") {
    auto ignored = [](const std::string& status) {  // bit 12 of SigIgn: signal 13, SIGPIPE
        auto at = status.find("SigIgn:");
        REQUIRE(at != std::string::npos);
        return (std::stoull(status.substr(at + 7), nullptr, 16) >> (SIGPIPE - 1) & 1) != 0;
    };
    auto previous = std::signal(SIGPIPE, SIG_IGN);  // as gpuhostd's main does
    auto child = drivers::runProcess({"cat", "/proc/self/status"});
    std::signal(SIGPIPE, previous);
    REQUIRE(child.ok());
    CHECK_FALSE(ignored(child->output));
    // The check can fail: a child started by a process that ignores SIGPIPE shows it.
    auto mine = drivers::runProcess({"sh", "-c", "trap '' PIPE; cat /proc/self/status"});
    REQUIRE(mine.ok());
    CHECK(ignored(mine->output));
}

TEST_CASE("seed ISO: volume cidata holding exactly the three files, written atomically") {
    REQUIRE_MESSAGE(std::system("command -v xorriso >/dev/null") == 0,
                    "xorriso is required: ./test.sh installs it");
    test::TempDir dir("gpuhost-seed");
    drivers::SeedFiles files{
        "#cloud-config\nruncmd:\n  - [sh, -c, 'echo \"$HOME\" > /m']\n",
        "instance-id: \"6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f\"\nlocal-hostname: \"web-1\"\n", "version: 2\n"};
    auto iso = dir.path / "seed.iso";
    REQUIRE(drivers::writeSeedIso(files, iso).ok());
    auto info = drivers::runProcess({"xorriso", "-indev", iso.string(), "-pvd_info"});
    REQUIRE(info.ok());
    CHECK(info->output.find("Volume Id    : cidata") != std::string::npos);
    auto out = dir.path / "out";
    auto extract = drivers::runProcess(
        {"xorriso", "-osirrox", "on", "-indev", iso.string(), "-extract", "/", out.string()});
    REQUIRE(extract.ok());
    REQUIRE(extract->exitCode == 0);
    CHECK(readFile(out / "user-data") == files.userData);
    CHECK(readFile(out / "meta-data") == files.metaData);
    CHECK(readFile(out / "network-config") == files.networkConfig);
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) {
        ++entries;
    }
    CHECK(entries == 2);  // seed.iso and out/: no scratch folder left behind
}

TEST_CASE("seed ISO: an unwritable destination is an error, not a crash") {
    auto result = drivers::writeSeedIso({"a", "b", "c"}, "/nonexistent-dir/seed.iso");
    CHECK_FALSE(result.ok());
}

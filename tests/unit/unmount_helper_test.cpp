// The unmount helper (gpuhost-unmount) and gpuhostd's client for it: the name check, the
// answers, the real binary over a socket as systemd's Accept=yes hands it one, and a real
// unmount where this test may mount (root outside a restricted container).
#include <doctest/doctest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "support/temp_dir.hpp"
#include "unmount/socket_releaser.hpp"
#include "unmount/unmount_protocol.hpp"

using namespace gpuhost;
using drivers::unmount::isValidName;

namespace {

// Runs the helper binary with `fd` as its stdin and stdout, as systemd does for one accepted
// connection; returns its exit status.
int runHelper(int fd, const std::filesystem::path& root) {
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        execl(GPUHOST_UNMOUNT_HELPER, GPUHOST_UNMOUNT_HELPER, root.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Sends `request` to the helper over a socketpair and returns its answer and exit status.
std::pair<std::string, int> ask(const std::filesystem::path& root, const std::string& request) {
    int pair[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    REQUIRE(write(pair[0], request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    shutdown(pair[0], SHUT_WR);  // a request without a newline ends here
    int status = runHelper(pair[1], root);
    close(pair[1]);
    std::string answer;
    char buffer[512];
    for (ssize_t n; (n = read(pair[0], buffer, sizeof(buffer))) > 0;) {
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    close(pair[0]);
    return {answer, status};
}

// A listening socket whose connections are each served by the helper binary, one at a time.
struct FakeSocketUnit {
    FakeSocketUnit(std::filesystem::path socketPath, std::filesystem::path helperRoot, int connections)
        : path(std::move(socketPath)) {
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
        REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
        REQUIRE(listen(listener, 4) == 0);
        server = std::thread([this, helperRoot, connections] {
            for (int i = 0; i < connections; ++i) {
                int connection = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
                if (connection < 0) {
                    return;
                }
                runHelper(connection, helperRoot);
                close(connection);
            }
        });
    }
    ~FakeSocketUnit() {
        server.join();
        close(listener);
    }
    std::filesystem::path path;
    int listener = -1;
    std::thread server;
};

}  // namespace

TEST_CASE("unmount helper: only plain names directly under its root") {
    CHECK(isValidName("gpuhost-fs-0b9c2f4e-7d1a-4c55-9a0e-3f2b1c8d9e70"));
    CHECK(isValidName("a"));
    CHECK(isValidName("A.b_c-1"));
    CHECK(isValidName(std::string(128, 'x')));
    CHECK_FALSE(isValidName(std::string(129, 'x')));
    CHECK_FALSE(isValidName(""));
    CHECK_FALSE(isValidName("."));
    CHECK_FALSE(isValidName(".."));
    CHECK_FALSE(isValidName(".hidden"));
    CHECK_FALSE(isValidName("a/b"));
    CHECK_FALSE(isValidName("../etc"));
    CHECK_FALSE(isValidName("/etc"));
    CHECK_FALSE(isValidName("a b"));
    CHECK_FALSE(isValidName("a\n"));
    CHECK_FALSE(isValidName(std::string("a\0b", 3)));
    CHECK_FALSE(isValidName("caf\xc3\xa9"));
    CHECK_FALSE(isValidName("$(reboot)"));
}

TEST_CASE("unmount helper: answers without touching what is not a mount point") {
    test::TempDir root("gpuhost-unmount");
    std::filesystem::create_directory(root.path / "plain");
    std::filesystem::create_directory_symlink("/", root.path / "link");
    CHECK(drivers::unmount::serve(root.path, "plain") == "error: not a mount point\n");
    CHECK(drivers::unmount::serve(root.path, "missing") == "error: not a mount point\n");
    // A symlink to a mount point is never followed.
    CHECK(drivers::unmount::serve(root.path, "link") == "error: not a mount point\n");
    CHECK(drivers::unmount::serve(root.path, "..").rfind("error: invalid name", 0) == 0);
    CHECK(std::filesystem::is_directory(root.path / "plain"));
}

TEST_CASE("unmount helper: a root that someone else could swap is refused") {
    // The helper runs as root: if a non-root user could replace a component of its root with a
    // link to "/", "filesystems/<name>" would name /boot or /home. Such roots are refused.
    test::TempDir top("gpuhost-unmount");
    std::filesystem::create_directory(top.path / "real");
    std::filesystem::create_directory_symlink(top.path / "real", top.path / "linked");
    CHECK(drivers::unmount::serve(top.path / "linked", "x").rfind("error: cannot open the root", 0) == 0);
    std::filesystem::create_directories(top.path / "open" / "root");
    std::filesystem::permissions(top.path / "open", std::filesystem::perms::group_write,
                                 std::filesystem::perm_options::add);
    CHECK(drivers::unmount::serve(top.path / "open" / "root", "x").rfind("error: an ancestor", 0) == 0);
    std::filesystem::create_directory(top.path / "owned");
    REQUIRE(::chown((top.path / "owned").c_str(), 65534, 65534) == 0);  // nobody
    CHECK(drivers::unmount::serve(top.path / "owned", "x") ==
          "error: the root is not root-owned or is writable by others\n");
    CHECK(drivers::unmount::serve("relative/root", "x") == "error: root is not an absolute path\n");
    // /tmp itself (root, 1777, sticky) is a fine ancestor: the plain case still answers.
    CHECK(drivers::unmount::serve(top.path / "real", "x") == "error: not a mount point\n");
}

TEST_CASE("unmount helper: the client reads ok, errors and garbage") {
    CHECK(drivers::unmount::parseAnswer("ok\n"));
    auto busy = drivers::unmount::parseAnswer("error: busy (still in use)\n");
    REQUIRE_FALSE(busy);
    CHECK(busy.error().message == "the unmount helper says: busy (still in use)");
    auto truncated = drivers::unmount::parseAnswer("ok");
    REQUIRE_FALSE(truncated);
    CHECK(truncated.error().message.find("malformed answer") != std::string::npos);
    auto hostile = drivers::unmount::parseAnswer("error: a\x1b[31mb\n");
    REQUIRE_FALSE(hostile);
    CHECK(hostile.error().message == "the unmount helper says: a?[31mb");
}

TEST_CASE("unmount helper binary: one line in, one answer out") {
    test::TempDir root("gpuhost-unmount");
    std::filesystem::create_directory(root.path / "plain");
    CHECK(ask(root.path, "plain\n") == std::pair<std::string, int>{"error: not a mount point\n", 1});
    CHECK(ask(root.path, "../etc\n").first.rfind("error: invalid name", 0) == 0);
    CHECK(ask(root.path, "plain").first.rfind("error: expected one line", 0) == 0);
    CHECK(ask(root.path, std::string(300, 'x') + "\n").first.rfind("error: expected one line", 0) == 0);
    // Only the first line counts: nothing after it is read, let alone acted on.
    CHECK(ask(root.path, "plain\n../x\n").first == "error: not a mount point\n");
}

TEST_CASE("socket releaser: the helper's answer through its socket") {
    test::TempDir dir("gpuhost-unmount");
    auto root = dir.path / "filesystems";
    std::filesystem::create_directories(root / "gpuhost-fs-a");
    FakeSocketUnit unit(dir.path / "unmount.sock", root, 1);
    drivers::SocketMountReleaser releaser(unit.path, root, std::chrono::seconds(10));
    auto released = releaser.release("gpuhost-fs-a", root / "gpuhost-fs-a");
    REQUIRE_FALSE(released);
    CHECK(released.error().message.find("the unmount helper says: not a mount point") != std::string::npos);
    // Refused before any connection: the helper serves only its root's direct children.
    auto outside = releaser.release("x", dir.path / "x");
    REQUIRE_FALSE(outside);
    CHECK(outside.error().message.find("serves only") != std::string::npos);
}

TEST_CASE("socket releaser: no helper listening is an error that says what to check") {
    test::TempDir dir("gpuhost-unmount");
    drivers::SocketMountReleaser releaser(dir.path / "absent.sock", dir.path, std::chrono::seconds(2));
    auto released = releaser.release("gpuhost-fs-a", dir.path / "gpuhost-fs-a");
    REQUIRE_FALSE(released);
    CHECK(released.error().message.find("gpuhost-unmount.socket") != std::string::npos);
}

TEST_CASE("socket releaser: a real mount is unmounted (where this test may mount)") {
    test::TempDir dir("gpuhost-unmount");
    auto root = dir.path / "filesystems";
    auto target = root / "gpuhost-fs-m";
    std::filesystem::create_directories(target);
    if (mount("gpuhost-test", target.c_str(), "tmpfs", 0, "size=1m") != 0) {
        MESSAGE("cannot mount here (" << std::strerror(errno) << "): the unmount itself is not exercised");
        return;
    }
    REQUIRE(drivers::unmount::isMountPoint(target));
    {
        FakeSocketUnit unit(dir.path / "unmount.sock", root, 1);
        drivers::SocketMountReleaser releaser(unit.path, root, std::chrono::seconds(10));
        auto released = releaser.release("gpuhost-fs-m", target);
        CHECK_MESSAGE(released, (released ? "" : released.error().message));
    }
    CHECK_FALSE(drivers::unmount::isMountPoint(target));
    umount2(target.c_str(), MNT_DETACH);  // a failed check must not leave the mount behind
}

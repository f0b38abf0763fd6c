#include "support/private_libvirtd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace gpuhost::test {

namespace fs = std::filesystem;

namespace {

// The unprivileged account the daemon runs as when the test is root: a root libvirtd
// would be a second *system* daemon fighting the real one over /run/libvirt.
struct Account {
    uid_t uid;
    gid_t gid;
};

Account sessionAccount() {
    if (geteuid() != 0) {
        return {geteuid(), getegid()};
    }
    const passwd* nobody = getpwnam("nobody");
    if (nobody == nullptr) {
        throw std::runtime_error("no 'nobody' account to run a private libvirtd as");
    }
    return {nobody->pw_uid, nobody->pw_gid};
}

// The socket file appears at bind(), before listen(): only a connect says it serves.
bool accepts(const fs::path& socket) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socket.string().copy(address.sun_path, sizeof(address.sun_path) - 1);
    bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
}

}  // namespace

PrivateLibvirtd::PrivateLibvirtd() {
    char pattern[] = "/tmp/gpuhost-libvirtd-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = pattern;
    auto account = sessionAccount();
    if (chown(dir_.c_str(), account.uid, account.gid) != 0) {
        throw std::runtime_error("cannot hand " + dir_.string() + " to the libvirtd account");
    }
}

PrivateLibvirtd::~PrivateLibvirtd() {
    if (pid_ > 0) {
        thaw();
        kill();
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
}

std::string PrivateLibvirtd::uri() const {
    return "test+unix:///default?socket=" + (dir_ / "run/libvirt/libvirt-sock").string();
}

std::string PrivateLibvirtd::log() const {
    std::ifstream in(dir_ / "libvirtd.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void PrivateLibvirtd::start() {
    auto socket = dir_ / "run/libvirt/libvirt-sock";
    std::error_code ignored;
    fs::remove(socket, ignored);
    auto account = sessionAccount();
    pid_ = fork();
    if (pid_ == 0) {
        int fd = ::open((dir_ / "libvirtd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (geteuid() == 0 &&
            (setgroups(0, nullptr) != 0 || setgid(account.gid) != 0 || setuid(account.uid) != 0)) {
            _exit(126);
        }
        // A session daemon finds its sockets, config and state through these alone.
        std::string home = dir_.string();
        setenv("HOME", home.c_str(), 1);
        setenv("XDG_RUNTIME_DIR", (home + "/run").c_str(), 1);
        setenv("XDG_CONFIG_HOME", (home + "/config").c_str(), 1);
        setenv("XDG_CACHE_HOME", (home + "/cache").c_str(), 1);
        setenv("XDG_DATA_HOME", (home + "/data").c_str(), 1);
        unsetenv("DBUS_SESSION_BUS_ADDRESS");
        execlp("libvirtd", "libvirtd", nullptr);
        _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        if (fs::exists(socket) && accepts(socket)) {
            return;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("libvirtd exited during start-up:\n" + log());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("libvirtd did not create its socket:\n" + log());
}

void PrivateLibvirtd::kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

void PrivateLibvirtd::freeze() {
    ::kill(pid_, SIGSTOP);
}

void PrivateLibvirtd::thaw() {
    ::kill(pid_, SIGCONT);
}

}  // namespace gpuhost::test

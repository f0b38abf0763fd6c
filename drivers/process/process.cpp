#include "process/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace gpuhost::drivers {

namespace {

constexpr std::size_t kOutputCap = 64 << 10;

std::function<void(int)> reniceFailureHandler;
std::atomic<bool> reniceFailureReported{false};

// posix_spawn, not fork(): glibc spawns with CLONE_VM|CLONE_VFORK, so the daemon's page
// tables are not copied (fork() of a large multi-threaded process stalls its other
// threads, the API's included, for milliseconds).
int spawnChild(char* const* argv, int outputFd, pid_t& pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outputFd, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    // Asio does not open sockets with CLOEXEC: without this the child would inherit the
    // listening socket and every client connection.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    // Its own process group, so a timeout can kill whatever it started too.
    // And SIGPIPE at its default: the daemon ignores it (see main), which a child would inherit
    // (a pipeline inside a helper would then run on after its reader is gone).
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attributes, 0);
    int rc = posix_spawnp(&pid, argv[0], &actions, &attributes, argv, environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

// Waits for the child until the deadline; false when it is still running then.
bool reap(pid_t pid, int& status, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR)) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// Reads until EOF or the deadline; returns false on timeout.
bool drain(int fd, std::string& output, std::chrono::steady_clock::time_point deadline) {
    char buffer[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd waitFor{fd, POLLIN, 0};
        int ready = poll(&waitFor, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return ready == 0 ? false : true;
        }
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n <= 0) {
            return true;
        }
        output.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                    kOutputCap - std::min(kOutputCap, output.size())));
    }
}

}  // namespace

void setReniceFailureHandler(std::function<void(int error)> handler) {
    reniceFailureHandler = std::move(handler);
}

model::Result<ProcessResult> runProcess(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout) {
    if (argv.empty()) {
        return model::Error::internal("runProcess: empty argv");
    }
    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) != 0) {
        return model::Error::internal(std::string("pipe: ") + std::strerror(errno));
    }
    std::vector<char*> args;
    for (const auto& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pid_t pid = -1;
    if (int rc = spawnChild(args.data(), pipeFds[1], pid); rc != 0) {
        close(pipeFds[0]);
        close(pipeFds[1]);
        return model::Error::internal("cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    // Helpers (xorriso for seed ISOs) are background work: the API's threads come first.
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(pid), 10) != 0) {
        int error = errno;
        if (!reniceFailureReported.exchange(true) && reniceFailureHandler) {
            reniceFailureHandler(error);
        }
    }
    close(pipeFds[1]);
    ProcessResult result;
    bool drained = drain(pipeFds[0], result.output, deadline);
    close(pipeFds[0]);
    int status = 0;
    if (!drained || !reap(pid, status, deadline)) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        result.timedOut = true;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    result.exitCode = WIFEXITED(status) && !result.timedOut ? WEXITSTATUS(status) : -1;
    if (result.exitCode == 127 && result.output.empty()) {
        return model::Error::internal("cannot run " + argv[0] + " (not installed?)");
    }
    return result;
}

}  // namespace gpuhost::drivers

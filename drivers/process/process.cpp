#include "process/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace gpuhost::drivers {

namespace {

constexpr std::size_t kOutputCap = 64 << 10;

// Only async-signal-safe calls between fork() and exec(): argv is built beforehand.
[[noreturn]] void execChild(char* const* argv, int outputFd) {
    setpgid(0, 0);  // its own group, so a timeout can kill whatever it started too
    dup2(outputFd, STDOUT_FILENO);
    dup2(outputFd, STDERR_FILENO);
    int devNull = open("/dev/null", O_RDONLY);
    dup2(devNull, STDIN_FILENO);
    // Asio does not open sockets with CLOEXEC: without this the child would inherit the
    // listening socket and every client connection.
    close_range(3, ~0U, 0);
    execvp(argv[0], argv);
    _exit(127);
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
    pid_t pid = fork();
    if (pid < 0) {
        close(pipeFds[0]);
        close(pipeFds[1]);
        return model::Error::internal(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        execChild(args.data(), pipeFds[1]);
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

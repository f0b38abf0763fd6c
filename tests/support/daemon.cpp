#include "support/daemon.hpp"

#include <cstdlib>

#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "process/process.hpp"

namespace gpuhost::test {

namespace fs = std::filesystem;

std::string Daemon::sha256Hex(const std::string& text) {
    unsigned char digest[32];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    std::string hex;
    char byte[3];
    for (unsigned i = 0; i < length; ++i) {
        std::snprintf(byte, sizeof(byte), "%02x", digest[i]);
        hex += byte;
    }
    return hex;
}

fs::path Daemon::binary() {
    // GPUHOST_TEST_DAEMON runs the tests against another build (e.g. figures before a change).
    if (const char* other = std::getenv("GPUHOST_TEST_DAEMON"); other != nullptr && *other != '\0') {
        return other;
    }
    return GPUHOST_DAEMON_PATH;
}

Daemon::Daemon(std::string extraYaml, std::string listen, std::string libvirtUri)
    : extraYaml_(std::move(extraYaml)), libvirtUri_(libvirtUri) {
    char pattern[] = "/tmp/gpuhost-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = pattern;
    dirLock_ = ::open((dir_ / kLockFile).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (dirLock_ < 0 || ::flock(dirLock_, LOCK_EX) != 0) {
        throw std::runtime_error("cannot lock " + dir_.string());
    }
    // Unique per daemon: tests share one libvirtd when they use test+unix:///default.
    poolName_ = "gpuhost-test-" + dir_.filename().string().substr(std::string("gpuhost-test-").size());
    for (auto& c : poolName_) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::ofstream(dir_ / "base.img") << "a stand-in for a qcow2 image: the test driver never reads it";
    chmod(dir_.c_str(), 0755);  // QEMU (libvirt-qemu) must reach the pool when qemu:///system is used
    // Default sections; a top-level key in extraYaml replaces the default section.
    std::vector<std::pair<std::string, std::string>> sections = {
        {"listen", "listen: " + listen + "\n"},
        {"state_dir", "state_dir: state\n"},
        {"libvirt", "libvirt:\n  uri: " + libvirtUri + "\n  virt_type: qemu\n  pool: " + poolName_ +
                        "\n  shutdown_timeout_s: 2\n  resync_interval_s: 2\n"},
        {"images", "images:\n  ubuntu22.04: {path: base.img}\n"},
        // Slurm and Kubernetes clusters' VMs boot the same small file (no Slurm inside: enough for the API
        // and for what happens to their VMs).
        {"slurm", "slurm:\n  image: ubuntu22.04\n"},
        {"kubernetes", "kubernetes:\n  image: ubuntu22.04\n"},
        {"auth", "auth:\n  tokens:\n    - {name: operator, sha256: " + sha256Hex(kOperatorToken) +
                     ", projects: [\"*\"]}\n    - {name: limited, sha256: " + sha256Hex(kLimitedToken) +
                     ", projects: [" + kLimitedProject + "]}\n"},
        {"instance_types",
         "instance_types:\n  - {name: cpu.small, cpu: 1, memory: 1Gi}\n"
         "  - {name: h100.8x, cpu: 192, memory: 1800Gi, gpu_count: 8, gpu_model: "
         "H100-SXM5-80GB}\n"},
    };
    std::ofstream config(configPath());
    for (const auto& [key, text] : sections) {
        bool replaced =
            extraYaml_.starts_with(key + ":") || extraYaml_.find("\n" + key + ":") != std::string::npos;
        if (!replaced) {
            config << text;
        }
    }
    for (auto at = extraYaml_.find("@POOL@"); at != std::string::npos; at = extraYaml_.find("@POOL@")) {
        extraYaml_.replace(at, 6, poolName_);
    }
    config << extraYaml_;
}

Daemon::~Daemon() {
    // A test that ends by an exception (a REQUIRE, a refused connection) or a daemon that died
    // on its own: the log says why, and it is about to be removed with the folder.
    bool died = false;
    if (pid_ > 0) {
        int status = 0;
        died = waitpid(pid_, &status, WNOHANG) == pid_;
        if (died) {
            std::cerr << "gpuhostd (pid " << pid_ << ") had exited on its own: "
                      << (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status)))
                      << "\n";
            pid_ = -1;
        }
    }
    if (died || std::uncaught_exceptions() > 0) {
        auto text = log();
        constexpr std::size_t kTail = 16 * 1024;
        std::cerr << "---- the end of gpuhostd's log (" << dir_.string() << ") ----\n"
                  << (text.size() > kTail ? text.substr(text.size() - kTail) : text) << "---- end ----\n";
    }
    if (pid_ > 0) {
        kill();
    }
    if (libvirtUri_.starts_with("qemu:")) {
        // On a real libvirt the daemon's pool is persistent (autostart): the test's goes with
        // its folder, or every run would leave one behind. Bounded: a hung libvirtd must not
        // hang the test's end; what is left then is the e2e sweep's.
        for (const char* verb : {"pool-destroy", "pool-undefine"}) {
            [[maybe_unused]] auto done = drivers::runProcess(
                {"virsh", "-q", "-c", libvirtUri_, verb, poolName_}, std::chrono::seconds(30));
        }
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    ::close(dirLock_);
}

std::string Daemon::log() const {
    return readLog(dir_ / "gpuhostd.log");
}

std::string Daemon::previousLogs() const {
    return readLog(dir_ / "gpuhostd.previous.log");
}

std::string Daemon::readLog(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void Daemon::start() {
    // The log starts afresh (start-up reads the port from it); what the previous run
    // wrote is kept for tests that explain a failure across a restart.
    if (fs::exists(dir_ / "gpuhostd.log")) {
        std::ofstream(dir_ / "gpuhostd.previous.log") << log();
        fs::remove(dir_ / "gpuhostd.log");
    }
    pid_ = fork();
    if (pid_ == 0) {
        int fd = ::open((dir_ / "gpuhostd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        execl(binary().c_str(), "gpuhostd", "--config", configPath().c_str(), nullptr);
        _exit(127);
    }
    static const std::regex kListening(R"(msg=listening address=127\.0\.0\.1:(\d+))");
    // Generous: a fresh host's first libvirt capability probe alone can take tens of seconds.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
        std::smatch match;
        std::string text = log();
        if (std::regex_search(text, match, kListening)) {
            port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
            return;
        }
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("gpuhostd exited during start-up:\n" + text);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("gpuhostd did not start listening:\n" + log());
}

int Daemon::stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void Daemon::signal(int number) const {
    ::kill(pid_, number);
}

void Daemon::kill() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

int runDaemonCommand(const std::string& arguments, std::string& output) {
    // A daemon that unexpectedly starts serving must not hang the test.
    std::string command = "timeout 20 " + Daemon::binary().string() + " " + arguments + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        throw std::runtime_error("popen failed");
    }
    char buffer[512];
    output.clear();
    while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
        output += buffer;
    }
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace gpuhost::test

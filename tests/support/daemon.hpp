#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace gpuhost::test {

/// A real gpuhostd process on an ephemeral port with its own state dir, for
/// integration tests. The config is written from `extraYaml` plus defaults.
class Daemon {
  public:
    static constexpr const char* kOperatorToken = "operator-token";
    static constexpr const char* kLimitedToken = "limited-token";
    static constexpr const char* kLimitedProject = "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11";

    /// extraYaml is appended to the generated config (e.g. "limits:\n  body_bytes: 4096\n").
    /// The daemon drives `libvirtUri` with a storage pool of its own (poolName()) and maps
    /// image://ubuntu22.04 to a small file in its folder. A top-level key in extraYaml
    /// replaces that default section; "@POOL@" in it becomes poolName().
    explicit Daemon(std::string extraYaml = {}, std::string listen = "127.0.0.1:0",
                    std::string libvirtUri = "test:///default");
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Starts the process and waits until it logs that it is listening.
    void start();
    /// SIGTERM and wait; returns the exit status (or -signal).
    int stop();
    /// Sends a signal without waiting (e.g. SIGHUP to reload).
    void signal(int number) const;
    /// SIGKILL and wait: a crash.
    void kill();

    std::uint16_t port() const { return port_; }
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    const std::filesystem::path& dir() const { return dir_; }
    /// The lock file a live Daemon holds in its folder (see the e2e sweep).
    static constexpr const char* kLockFile = ".in-use";
    std::string log() const;
    /// What the run before the current one logged (start() rotates the log).
    std::string previousLogs() const;
    std::filesystem::path configPath() const { return dir_ / "gpuhostd.yaml"; }
    const std::string& poolName() const { return poolName_; }
    std::filesystem::path poolPath() const { return dir_ / "state" / "pool"; }

    static std::string sha256Hex(const std::string& text);
    static std::string readLog(const std::filesystem::path& file);
    static std::filesystem::path binary();

  private:
    std::filesystem::path dir_;
    std::string extraYaml_;
    std::string libvirtUri_;
    std::string poolName_;
    pid_t pid_ = -1;
    // flock(2)ed for the daemon's whole life: the e2e sweep leaves a folder alone while it is held.
    int dirLock_ = -1;
    std::uint16_t port_ = 0;
};

/// Runs gpuhostd with arguments and returns its exit status; stderr goes to `output`.
int runDaemonCommand(const std::string& arguments, std::string& output);

}  // namespace gpuhost::test

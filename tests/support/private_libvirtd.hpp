#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace gpuhost::test {

/// A libvirtd of the test's own, for fault injection: a session daemon (run as `nobody`
/// when the test is root, so it never touches the system daemon's state) with its
/// sockets in a temporary folder. Its test driver (`uri()`) keeps its state while the
/// process lives, and the test may kill, freeze or restart it at will.
class PrivateLibvirtd {
  public:
    PrivateLibvirtd();
    ~PrivateLibvirtd();
    PrivateLibvirtd(const PrivateLibvirtd&) = delete;
    PrivateLibvirtd& operator=(const PrivateLibvirtd&) = delete;

    /// Starts libvirtd and waits until its socket answers.
    void start();
    /// SIGKILL and reap: a crash (the test driver's domains are gone with it).
    void kill();
    /// SIGSTOP / SIGCONT: a hung daemon whose socket still accepts connections.
    void freeze();
    void thaw();

    bool running() const { return pid_ > 0; }
    /// test+unix:///default through this daemon's socket.
    std::string uri() const;
    std::string log() const;

  private:
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

}  // namespace gpuhost::test

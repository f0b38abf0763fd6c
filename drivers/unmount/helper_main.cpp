// gpuhost-unmount: the privileged half of filesystem delete. systemd starts one per connection
// on /run/gpuhost/unmount.sock (gpuhost-unmount@.service, Accept=yes) with the connection as
// stdin and stdout; it unmounts <root>/<name> in the host's mount namespace, where libvirtd
// mounted it. Usage: gpuhost-unmount ROOT   (ROOT from the unit file, never from the client)
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>

#include "unmount/unmount_protocol.hpp"

namespace {

using gpuhost::drivers::unmount::kMaxRequestBytes;

// Reads one line from stdin within the deadline; false when the client is too slow, sends
// too much or hangs up first.
bool readRequest(std::string& line, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char c = 0;
    while (line.size() < kMaxRequestBytes) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        pollfd waitFor{STDIN_FILENO, POLLIN, 0};
        int ready = left.count() > 0 ? ::poll(&waitFor, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return false;
        }
        ssize_t n = ::read(STDIN_FILENO, &c, 1);  // byte by byte: never read past the line
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        if (c == '\n') {
            return true;
        }
        line.push_back(c);
    }
    return false;
}

void answer(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(STDOUT_FILENO, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || argv[1][0] != '/') {
        std::cerr << "usage: gpuhost-unmount ROOT   (an absolute folder; the name comes on stdin)\n";
        return 2;
    }
    std::string root = argv[1];
    std::string line;
    std::string reply;
    bool complete = readRequest(line, std::chrono::seconds(5));
    if (!complete) {
        reply = "error: expected one line of at most " + std::to_string(kMaxRequestBytes - 1) + " bytes\n";
    } else {
        reply = gpuhost::drivers::unmount::serve(root, line);
    }
    answer(reply);
    // The journal line: the name only when it passed validation (never echo arbitrary bytes).
    bool valid = complete && gpuhost::drivers::unmount::isValidName(line);
    std::cerr << "gpuhost-unmount: " << root << "/" << (valid ? line : std::string("<invalid>")) << ": "
              << reply;
    return reply == "ok\n" ? 0 : 1;
}

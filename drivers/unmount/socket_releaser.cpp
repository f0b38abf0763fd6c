#include "unmount/socket_releaser.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "unmount/unmount_protocol.hpp"

namespace gpuhost::drivers {

namespace {

using unmount::Descriptor;

int millisecondsLeft(std::chrono::steady_clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        pollfd entry{fd, events, 0};
        int ready = ::poll(&entry, 1, millisecondsLeft(deadline));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        return ready > 0;
    }
}

}  // namespace

model::Result<void> SocketMountReleaser::release(const std::string& name,
                                                 const std::filesystem::path& mountPoint) {
    auto fail = [&](const std::string& what) {
        return model::Error::internal("unmount " + mountPoint.string() + " through " + socketPath_.string() +
                                      ": " + what);
    };
    // The helper knows only <its root>/<name>; anything else it could not find anyway.
    if (mountPoint.parent_path() != root_ || mountPoint.filename() != name || !unmount::isValidName(name)) {
        return fail("the helper serves only " + root_.string() + "/<name>");
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socketPath_.native().size() >= sizeof(address.sun_path)) {
        return fail("socket path too long");
    }
    std::memcpy(address.sun_path, socketPath_.c_str(), socketPath_.native().size());
    Descriptor socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (socket.get() < 0) {
        return fail(std::string("socket: ") + std::strerror(errno));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        // A full backlog answers EAGAIN on a non-blocking Unix socket: the helper is busy.
        return fail(
            std::string("connect: ") + std::strerror(errno) +
            (errno == ENOENT || errno == ECONNREFUSED ? " (is gpuhost-unmount.socket running?)" : ""));
    }
    std::string request = name + "\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
        if (!waitFor(socket.get(), POLLOUT, deadline)) {
            return fail("timed out sending the request");
        }
        ssize_t n = ::send(socket.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            return fail(std::string("send: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
    std::string answer;
    char buffer[256];
    while (answer.size() < unmount::kMaxRequestBytes && (answer.empty() || answer.back() != '\n')) {
        if (!waitFor(socket.get(), POLLIN, deadline)) {
            return fail("no answer within " + std::to_string(timeout_.count()) + " ms");
        }
        ssize_t n = ::recv(socket.get(), buffer, sizeof(buffer), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            break;  // closed early: parseAnswer calls it malformed
        }
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    if (auto parsed = unmount::parseAnswer(answer); !parsed) {
        return fail(parsed.error().message);
    }
    return {};
}

}  // namespace gpuhost::drivers

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "model/error.hpp"

typedef struct _virConnect* virConnectPtr;
struct _virConnect;

namespace gpuhost::drivers::libvirt {

/// The libvirt error of the calling thread as a typed error: the one place where
/// virError codes are mapped (no domain → NotFound, invalid operation → Conflict,
/// connection trouble and an unresponsive guest agent → Unavailable, the rest → Internal).
model::Error lastLibvirtError(std::string_view what);

/// One connection to a libvirt URI that reopens itself: when a call finds it dead
/// (libvirtd restarted), the next get() reconnects, with exponential backoff between
/// failed attempts (100 ms doubling up to 5 s) so a down daemon is not hammered.
class Connection {
  public:
    explicit Connection(std::string uri);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// A live connection (holding its own libvirt reference, so a reconnect on another
    /// thread cannot pull it away mid-call), or Unavailable.
    using Handle = std::shared_ptr<_virConnect>;
    model::Result<Handle> get();

    /// Runs `hook` on every connection opened from now on, and at once on the open one
    /// (registering event callbacks, keepalive). It runs under the connection's lock:
    /// it must not call get().
    void setOnOpen(std::function<void(virConnectPtr)> hook);

    /// An error of a call on this connection as callers should treat it: Unavailable
    /// only while the connection is really down, Internal when it is alive.
    model::Error classify(model::Error error);

    /// The calling thread's libvirt error after a call on this connection failed, as
    /// callers should treat it: lastLibvirtError, with connection errors classified (and the
    /// connection marked broken when it is really down). Agent errors stay Unavailable.
    model::Error failed(std::string_view what);

    /// Whether the connection is open and its peer still answers keepalives.
    bool alive();
    /// Marks the connection dead after an error that says so (e.g. VIR_ERR_SYSTEM_ERROR).
    void markBroken();

    const std::string& uri() const { return uri_; }
    /// How many times a connection was opened (1 after the first success).
    unsigned opens() const;

  private:
    std::string uri_;
    mutable std::mutex mutex_;
    virConnectPtr conn_ = nullptr;
    unsigned opens_ = 0;
    bool connecting_ = false;
    std::function<void(virConnectPtr)> onOpen_;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point nextAttempt_{};
};

}  // namespace gpuhost::drivers::libvirt

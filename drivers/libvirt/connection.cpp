#include "libvirt/connection.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>

namespace gpuhost::drivers::libvirt {

using model::Error;
using model::ErrorCode;

namespace {

ErrorCode codeFor(int libvirtCode) {
    switch (libvirtCode) {
        case VIR_ERR_NO_DOMAIN:
        case VIR_ERR_NO_STORAGE_POOL:
        case VIR_ERR_NO_STORAGE_VOL:
        case VIR_ERR_NO_NETWORK:
        case VIR_ERR_NO_NODE_DEVICE:
        case VIR_ERR_NO_DOMAIN_METADATA:
            return ErrorCode::NotFound;
        case VIR_ERR_OPERATION_INVALID:
        case VIR_ERR_DOM_EXIST:
        case VIR_ERR_STORAGE_VOL_EXIST:
            return ErrorCode::Conflict;
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
        case VIR_ERR_SYSTEM_ERROR:
        case VIR_ERR_RPC:
        case VIR_ERR_AUTH_FAILED:
        // The guest agent is not connected (still booting, not installed), timed out, or
        // answered out of sync: the guest may answer later.
        case VIR_ERR_AGENT_UNRESPONSIVE:
        case VIR_ERR_AGENT_UNSYNCED:
            return ErrorCode::Unavailable;
        default:
            return ErrorCode::Internal;
    }
}

// Errors about the connection itself, as opposed to the object a call was about: these
// say "unreachable" only when the connection is really down (see Connection::failed).
bool aboutTheConnection(int libvirtCode) {
    switch (libvirtCode) {
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
        case VIR_ERR_SYSTEM_ERROR:
        case VIR_ERR_RPC:
        case VIR_ERR_AUTH_FAILED:
            return true;
        default:
            return false;
    }
}

// libvirt prints errors to stderr by default; they come back through lastLibvirtError.
void silence(void*, virErrorPtr) {}

}  // namespace

Error lastLibvirtError(std::string_view what) {
    virErrorPtr error = virGetLastError();
    if (error == nullptr) {
        return Error{ErrorCode::Internal, std::string(what) + ": unknown libvirt error", {}};
    }
    std::string message = std::string(what) + ": " +
                          (error->message != nullptr ? error->message : "libvirt error") +
                          " (libvirt error " + std::to_string(error->code) + ")";
    auto code = codeFor(error->code);
    // Drivers that report a missing agent under another code still say so in words.
    if (error->message != nullptr &&
        std::string_view(error->message).find("agent is not connected") != std::string_view::npos) {
        code = ErrorCode::Unavailable;
    }
    return Error{code, std::move(message), {}};
}

Connection::Connection(std::string uri) : uri_(std::move(uri)) {
    virSetErrorFunc(nullptr, silence);
}

Connection::~Connection() {
    if (conn_ != nullptr) {
        virConnectClose(conn_);
    }
}

model::Result<Connection::Handle> Connection::get() {
    std::unique_lock lock(mutex_);
    auto handle = [](virConnectPtr conn) {
        virConnectRef(conn);
        return Handle(conn, [](virConnectPtr held) { virConnectClose(held); });
    };
    if (conn_ != nullptr && virConnectIsAlive(conn_) == 1) {
        return handle(conn_);
    }
    if (conn_ != nullptr) {
        virConnectClose(conn_);
        conn_ = nullptr;
    }
    auto now = std::chrono::steady_clock::now();
    if (connecting_ || now < nextAttempt_) {
        return Error{ErrorCode::Unavailable, "libvirt at " + uri_ + " is unreachable; retrying shortly", {}};
    }
    // Open outside the lock: over ssh or TLS a connect can take seconds, and the other
    // blocking-pool threads must fail fast meanwhile rather than queue behind it.
    connecting_ = true;
    lock.unlock();
    virConnectPtr opened = virConnectOpen(uri_.c_str());
    auto error =
        opened == nullptr ? lastLibvirtError("connect to " + uri_) : Error{ErrorCode::Internal, {}, {}};
    lock.lock();
    connecting_ = false;
    if (opened == nullptr) {
        backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
        nextAttempt_ = std::chrono::steady_clock::now() + backoff_;
        error.code = ErrorCode::Unavailable;
        return error;
    }
    conn_ = opened;
    backoff_ = std::chrono::milliseconds(0);
    nextAttempt_ = {};
    ++opens_;
    if (onOpen_) {
        onOpen_(conn_);
    }
    return handle(conn_);
}

Error Connection::classify(Error error) {
    // libvirt reports a dead socket and a full disk alike as VIR_ERR_SYSTEM_ERROR: only a
    // dead connection means "unreachable, retry later"; the rest is a real failure.
    if (error.code == ErrorCode::Unavailable) {
        std::lock_guard lock(mutex_);
        if (conn_ != nullptr && virConnectIsAlive(conn_) == 1) {
            error.code = ErrorCode::Internal;
        }
    }
    return error;
}

Error Connection::failed(std::string_view what) {
    virErrorPtr raw = virGetLastError();
    bool connectionTrouble = raw == nullptr || aboutTheConnection(raw->code);
    auto error = lastLibvirtError(what);
    if (!connectionTrouble) {
        // A call cut off by the connection dying (libvirt's keepalive gave up on a hung
        // daemon: VIR_ERR_INTERNAL_ERROR "connection closed due to keepalive timeout") is
        // the host being unreachable, not a failure of what it was asked.
        if (error.code == ErrorCode::Internal && !alive()) {
            error.code = ErrorCode::Unavailable;
            markBroken();
        }
        return error;
    }
    error = classify(std::move(error));
    if (error.code == ErrorCode::Unavailable) {
        markBroken();  // the next get() reconnects (with backoff)
    }
    return error;
}

void Connection::setOnOpen(std::function<void(virConnectPtr)> hook) {
    std::lock_guard lock(mutex_);
    onOpen_ = std::move(hook);
    if (onOpen_ && conn_ != nullptr) {
        onOpen_(conn_);
    }
}

bool Connection::alive() {
    std::lock_guard lock(mutex_);
    return conn_ != nullptr && virConnectIsAlive(conn_) == 1;
}

void Connection::markBroken() {
    std::lock_guard lock(mutex_);
    if (conn_ != nullptr) {
        virConnectClose(conn_);
        conn_ = nullptr;
    }
}

unsigned Connection::opens() const {
    std::lock_guard lock(mutex_);
    return opens_;
}

}  // namespace gpuhost::drivers::libvirt

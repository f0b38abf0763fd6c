#include "libvirt/event_loop.hpp"

#include <libvirt/libvirt.h>

#include <stdexcept>

namespace gpuhost::drivers::libvirt {

namespace {
void wake(int, void*) {}
}  // namespace

EventLoop::EventLoop() {
    if (virEventRegisterDefaultImpl() != 0) {
        throw std::runtime_error("cannot register libvirt's event loop");
    }
    thread_ = std::thread([this] {
        while (!stopping_.load(std::memory_order_acquire)) {
            virEventRunDefaultImpl();
        }
    });
}

EventLoop::~EventLoop() {
    stop();
}

void EventLoop::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stopping_.store(true, std::memory_order_release);
    // A timer that fires at once wakes the loop out of its poll() so it sees the flag.
    wakeTimer_ = virEventAddTimeout(0, wake, nullptr, nullptr);
    thread_.join();
    if (wakeTimer_ >= 0) {
        virEventRemoveTimeout(wakeTimer_);
    }
}

}  // namespace gpuhost::drivers::libvirt

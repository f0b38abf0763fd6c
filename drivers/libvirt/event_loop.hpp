#pragma once

#include <atomic>
#include <thread>

namespace gpuhost::drivers::libvirt {

/// libvirt's default event loop on a thread of its own: domain lifecycle events,
/// connection close callbacks and keepalive all need one. Create it before the first
/// connection is opened; stop() before whatever receives events goes away.
class EventLoop {
  public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void stop();

  private:
    std::atomic<bool> stopping_{false};
    int wakeTimer_ = -1;
    std::thread thread_;
};

}  // namespace gpuhost::drivers::libvirt

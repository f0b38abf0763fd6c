#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "services/catalog.hpp"
#include "services/host_registry.hpp"
#include "services/image_cache.hpp"
#include "services/instance_controller.hpp"
#include "services/instance_table.hpp"

namespace gpuhost::agent {

/// Makes the store and libvirt agree: at start, after a reconnect or a device change, and
/// periodically as a safety net behind events. Each host has its own loop (on its own
/// strand and its host's pool), so an unreachable or frozen host delays nobody else.
/// A pass refreshes the host's inventory, schedules jobs for instances that are
/// transitional or whose domain disagrees, and removes this agent's orphans there.
class InstanceReconciler {
  public:
    InstanceReconciler(boost::asio::any_io_executor executor, InstanceTable& table, HostRegistry& hosts,
                       const Catalog& catalog, InstanceController& controller, ImageCache& images,
                       std::chrono::milliseconds interval);
    ~InstanceReconciler();

    /// Subscribes to every host's events and starts the loops (first passes at once).
    /// `agentId`: domains of other agents are never touched.
    void start(const model::Uuid& agentId);
    void stop();

  private:
    class HostEvents;
    struct HostLoop {
        std::unique_ptr<HostEvents> events;
        boost::asio::any_io_executor strand;
        std::unique_ptr<boost::asio::steady_timer> timer;
        std::atomic<bool> soon{false};  // resync again shortly (the connection dropped)
    };
    boost::asio::awaitable<void> loop(std::size_t host);
    boost::asio::awaitable<bool> reconcileHost(std::size_t host);
    boost::asio::awaitable<void> removeOrphans(std::size_t host,
                                               const std::vector<drivers::ManagedDomain>& domains);
    /// Instances on no host (out-of-stock ones being deleted) or a host that left the config.
    void finishHomeless();
    void kick(std::size_t host);
    void firstPassDone();

    boost::asio::any_io_executor executor_;
    InstanceTable& table_;
    HostRegistry& hosts_;
    const Catalog& catalog_;
    InstanceController& controller_;
    ImageCache& images_;
    std::chrono::milliseconds interval_;
    model::Uuid agentId_;
    std::vector<std::unique_ptr<HostLoop>> loops_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::size_t> firstPasses_{0};
    std::chrono::steady_clock::time_point started_;
};

}  // namespace gpuhost::agent

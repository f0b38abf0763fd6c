// A fixed-rate (open-loop) request driver: request i is due at start + i/rate whatever
// the server does, and waits in a queue for the next free keep-alive connection. Its
// latency counts from the due time, so queueing behind a slow answer is measured.
// Reads and writes have their own connections (as separate clients would): a read never
// waits in this client for a connection that a slow create holds.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <vector>

#include "http_connection.hpp"
#include "stats.hpp"

namespace gpuhost::bench {

/// One request as planned by the workload, with what it needs to account the answer.
struct Planned {
    Kind kind = Kind::GetInstance;
    http::request<http::string_body> request;
    std::string instanceId;  // GET/DELETE of one instance
    std::string project;
    Clock::time_point due;
};

struct DriveResult {
    std::uint64_t sent = 0;
    std::size_t maxQueued = 0;  // requests due but waiting for a connection, at worst (both lanes)
    double seconds = 0;         // from the first due time to the last answer
};

class OpenLoop {
  public:
    using Plan = std::function<Planned(Clock::time_point due)>;
    using Answered = std::function<void(const Planned&, const Response&, Clock::duration latency)>;

    OpenLoop(boost::asio::any_io_executor executor, boost::asio::ip::tcp::endpoint endpoint,
             std::size_t readConnections, std::size_t writeConnections);

    /// Sends rate requests/s for the given time, then waits for every answer.
    boost::asio::awaitable<DriveResult> drive(double rate, Clock::duration duration, const Plan& plan,
                                              const Answered& answered);

  private:
    struct Lane {
        std::size_t connections = 0;
        std::deque<Planned> queue;
        std::vector<boost::asio::steady_timer*> idle;  // workers waiting for work
    };

    boost::asio::awaitable<void> worker(Lane& lane);
    void enqueue(Planned planned);
    static void wakeOne(Lane& lane);

    boost::asio::any_io_executor executor_;
    boost::asio::ip::tcp::endpoint endpoint_;
    Answered answered_;
    Lane reads_, writes_;
    bool closed_ = false;
    std::size_t running_ = 0;
    boost::asio::steady_timer allDone_;
    DriveResult result_;
};

}  // namespace gpuhost::bench

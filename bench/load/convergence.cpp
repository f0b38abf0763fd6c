#include "convergence.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace gpuhost::bench {

namespace asio = boost::asio;

namespace {

// id → state of every instance the token sees in these projects.
asio::awaitable<std::map<std::string, std::string>> listAll(HttpConnection& control, const std::string& token,
                                                            const std::vector<std::string>& projects) {
    std::map<std::string, std::string> listed;
    for (const auto& project : projects) {
        auto request = makeRequest(http::verb::get, "/api/v1alpha1/instances", {token, project});
        auto response = co_await control.exchange(request);
        if (response.status != 200) {
            throw std::runtime_error("GET /instances: " + std::to_string(response.status) + " " +
                                     response.body);
        }
        for (const auto& instance : nlohmann::json::parse(response.body)) {
            listed[instance.at("id")] = instance.at("state");
        }
    }
    co_return listed;
}

Convergence compare(const std::map<std::string, std::string>& listed,
                    const std::map<std::string, std::string>& live, const std::set<std::string>& deleted) {
    Convergence seen;
    for (const auto& [id, project] : live) {
        auto it = listed.find(id);
        if (it == listed.end()) {
            ++seen.missing;
        } else if (it->second != "running") {
            ++seen.notRunning;
        }
    }
    for (const auto& [id, state] : listed) {
        if (deleted.contains(id)) {
            ++seen.lingering;
        } else if (!live.contains(id)) {
            ++seen.unknown;
        }
    }
    seen.ok = seen.missing == 0 && seen.notRunning == 0 && seen.lingering == 0;
    return seen;
}

}  // namespace

asio::awaitable<Convergence> converge(HttpConnection& control, const std::string& token,
                                      const std::vector<std::string>& projects,
                                      const std::map<std::string, std::string>& live,
                                      const std::set<std::string>& deleted, Clock::duration timeout) {
    auto start = Clock::now();
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
        auto listed = co_await listAll(control, token, projects);
        auto seen = compare(listed, live, deleted);
        seen.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (seen.ok || Clock::now() - start > timeout) {
            co_return seen;
        }
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

struct RssSampler::State {
    explicit State(asio::any_io_executor executor) : timer(executor) {}
    asio::steady_timer timer;
    bool stopped = false;
    std::vector<long> samples;
};

RssSampler::RssSampler(asio::any_io_executor executor, int pid) : state_(std::make_shared<State>(executor)) {
    auto sample = [](std::shared_ptr<State> state, int pid) -> asio::awaitable<void> {
        boost::system::error_code ignored;
        while (!state->stopped) {
            state->samples.push_back(residentKiB(pid));
            state->timer.expires_after(std::chrono::seconds(1));
            co_await state->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
    };
    asio::co_spawn(executor, sample(state_, pid), asio::detached);
}

long RssSampler::stop() {
    state_->stopped = true;
    state_->timer.cancel();
    const auto& samples = state_->samples;
    return samples.empty() ? -1 : *std::max_element(samples.begin(), samples.end());
}

const std::vector<long>& RssSampler::samples() const {
    return state_->samples;
}

}  // namespace gpuhost::bench

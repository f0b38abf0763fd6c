// GET /instances for one project of N instances: the text writer the API uses against
// the json DOM it replaced (built from the same fields, then dumped), in one run.
//   build/bench/render_bench [instances=10000] [rounds=5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "json_mapping.hpp"
#include "model/instance.hpp"

using namespace gpuhost;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

json domOf(const model::Instance& i) {
    json out{{"id", i.id.str()},
             {"name", i.name},
             {"type", i.type},
             {"image", i.image},
             {"state", model::nameOf(i.state)},
             {"ip", i.ip ? json(*i.ip) : json(nullptr)},
             {"ephemeral", i.ephemeral},
             {"preemptible", i.preemptible},
             {"filesystems", json::array()},
             {"tags", i.tags},
             {"createdAt", model::formatTimestamp(i.createdAt)},
             {"host", i.host.empty() ? json(nullptr) : json(i.host)},
             {"gpus", json::array()}};
    if (!i.reason.empty()) {
        out["reason"] = i.reason;
    }
    return out;
}

template <class Render>
double bestMs(int rounds, Render render) {
    double best = 1e18;
    for (int r = 0; r < rounds; ++r) {
        auto start = Clock::now();
        auto text = render();
        best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (text.size() < 2) {
            std::abort();
        }
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t count = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    std::vector<model::Instance> instances(count);
    for (std::size_t n = 0; n < count; ++n) {
        auto& i = instances[n];
        i.id = model::Uuid::random();
        i.name = "vm-" + std::to_string(n);
        i.type = "cpu.small";
        i.image = "image://ubuntu22.04";
        i.host = "local";
        i.state = n % 10 == 0 ? model::InstanceState::Running : model::InstanceState::Stopped;
        i.ip = n % 10 == 0 ? std::optional<std::string>("192.168.122.10") : std::nullopt;
        i.tags = {{"team", "ml"}, {"env", "bench"}};
    }
    if (api::renderInstances(instances) != api::dump(json::parse(api::renderInstances(instances)))) {
        std::fprintf(stderr, "the writer and the DOM disagree\n");
        return 1;
    }
    double direct = bestMs(rounds, [&] { return api::renderInstances(instances); });
    double dom = bestMs(rounds, [&] {
        auto list = json::array();
        for (const auto& instance : instances) {
            list.push_back(domOf(instance));
        }
        return api::dump(list);
    });
    std::printf("%zu instances, best of %d: text writer %.1f ms, json DOM %.1f ms, ratio %.2f\n", count,
                rounds, direct, dom, direct / dom);
}

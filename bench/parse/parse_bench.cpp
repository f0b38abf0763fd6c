// Worst-case request bodies (1 MiB, the default body limit) for each route that parses one,
// timed through what an I/O thread runs: parseJsonObject, then the route's mapping. The
// baseline, measured in the same run on the same bytes, is nlohmann's plain parse: linear
// in the body. A ratio near 1 means parsing stays linear; the quadratic duplicate check of
// `filesystems` this replaced gave seconds per body (issue 16).
//   build/bench/parse_bench [rounds=5] [bodyBytes=1048000] [only shapes whose name contains this]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "cluster_mapping.hpp"
#include "json_mapping.hpp"
#include "kubernetes_mapping.hpp"
#include "slurm_mapping.hpp"

using namespace gpuhost;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// What the route's handler makes of a parsed body: the error it answers, or "" if accepted.
using Mapping = std::function<std::string(const json&)>;

template <class T>
std::string outcome(const model::Result<T>& result) {
    return result ? std::string() : result.error().message;
}

struct Shape {
    const char* route;
    const char* what;
    std::string body;
    Mapping mapping;
};

// `head` + items from `item(n)` separated by commas + `tail`, up to `bytes` in all.
std::string listBody(std::size_t bytes, const std::string& head, const std::string& tail,
                     const std::function<std::string(std::size_t)>& item) {
    std::string out = head;
    for (std::size_t n = 0;; ++n) {
        std::string next = (n == 0 ? "" : ",") + item(n);
        if (out.size() + next.size() + tail.size() > bytes) {
            break;
        }
        out += next;
    }
    return out + tail;
}

std::string uuidText(std::size_t n) {
    char text[40];
    std::snprintf(text, sizeof(text), "\"%08zx-0000-4000-8000-%012zx\"", n * 2654435761u % 0xffffffffu, n);
    return text;
}

std::vector<Shape> shapes(std::size_t bytes) {
    auto tag = [](std::size_t n) { return "\"k" + std::to_string(n) + "\":\"v\""; };
    auto word = [](std::size_t n) { return "\"p" + std::to_string(n) + "\""; };
    auto pool = [](std::size_t n) {
        return R"({"name":"p)" + std::to_string(n) + R"(","type":"t","count":1})";
    };
    const std::string longName = std::string(bytes - 64, 'a');
    return {
        {"POST /instances", "filesystems: distinct ids",
         listBody(bytes, R"({"name":"vm","type":"t","filesystems":[)", "]}", uuidText),
         [](const json& b) { return outcome(api::parseCreateInstance(b)); }},
        {"POST /instances", "tags: distinct keys",
         listBody(bytes, R"({"name":"vm","type":"t","tags":{)", "}}", tag),
         [](const json& b) { return outcome(api::parseCreateInstance(b)); }},
        {"POST /projects", "tags: distinct keys", listBody(bytes, R"({"name":"p","tags":{)", "}}", tag),
         [](const json& b) { return outcome(api::parseCreateProject(b)); }},
        {"POST /filesystems", "name: one long string", R"({"name":")" + longName + R"(","size":"1Gi"})",
         [](const json& b) { return outcome(api::parseCreateFilesystem(b, 1ull << 44)); }},
        {"POST /slurm/clusters", "nodePools: distinct pools",
         listBody(bytes, R"({"name":"c","nodePools":[)", "]}", pool),
         [](const json& b) { return outcome(api::parseCreateSlurmCluster(b)); }},
        {"POST /slurm/clusters", "nodePools[0].partitions",
         listBody(bytes, R"({"name":"c","nodePools":[{"name":"p","type":"t","count":1,"partitions":[)",
                  "]}]}", word),
         [](const json& b) { return outcome(api::parseCreateSlurmCluster(b)); }},
        {"POST /slurm/.../node-pools", "partitions",
         listBody(bytes, R"({"name":"p","type":"t","partitions":[)", "]}", word),
         [](const json& b) { return outcome(api::parseSlurmPool(b)); }},
        {"POST /slurm/.../users", "sshKeys", listBody(bytes, R"({"username":"u","sshKeys":[)", "]}", word),
         [](const json& b) { return outcome(api::parseSlurmUser(b)); }},
        {"POST /kubernetes/clusters", "defaultNodePool.name: one long string",
         R"({"name":"k","defaultNodePool":{"name":")" + longName + R"(","type":"t","count":1}})",
         [](const json& b) { return outcome(api::parseCreateKubernetesCluster(b)); }},
        {"POST (any)", "a list of empty objects",
         listBody(bytes, R"({"name":[)", "]}", [](std::size_t) { return std::string("{}"); }),
         [](const json& b) { return outcome(api::parseCreateProject(b)); }},
        {"POST (any)", "unknown fields", listBody(bytes, "{", "}", tag),
         [](const json& b) { return outcome(api::parseCreateProject(b)); }},
    };
}

template <class Work>
double bestMs(int rounds, Work work) {
    double best = 1e18;
    for (int r = 0; r < rounds; ++r) {
        auto start = Clock::now();
        work();
        best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    std::size_t bytes = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1048000;
    std::string only = argc > 3 ? argv[3] : "";
    std::printf("%-28s %-38s %8s %12s %12s %7s  %s\n", "route", "worst case", "bytes", "baseline ms",
                "handler ms", "ratio", "answer");
    double worst = 0;
    for (const auto& shape : shapes(bytes)) {
        if (std::string(shape.what).find(only) == std::string::npos) {
            continue;
        }
        std::string answer;
        double baseline = bestMs(rounds, [&] {
            if (json::parse(shape.body).is_discarded()) {
                std::abort();
            }
        });
        double handler = bestMs(rounds, [&] {
            auto parsed = api::parseJsonObject(shape.body);
            answer = parsed ? shape.mapping(*parsed) : outcome(parsed);
        });
        worst = std::max(worst, handler / baseline);
        std::printf("%-28s %-38s %8zu %12.2f %12.2f %7.2f  %s\n", shape.route, shape.what, shape.body.size(),
                    baseline, handler, handler / baseline,
                    answer.empty() ? "accepted" : answer.substr(0, 60).c_str());
    }
    std::printf("best of %d rounds; worst ratio %.2f\n", rounds, worst);
}

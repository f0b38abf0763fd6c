#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "node_list.hpp"
#include "unit/hostile_strings.hpp"

using namespace gpuhost;
using kubernetes::NodeState;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/kubernetes" / name);
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<NodeState> parsed(const std::string& json) {
    auto nodes = kubernetes::parseNodeList(json);
    REQUIRE_MESSAGE(nodes.ok(), nodes.error().message);
    return *nodes;
}

// What `kubectl get nodes -o json` prints for the same nodes: kind List, per-item kind.
std::string asKubectlList(const std::string& nodeList) {
    auto json = nlohmann::json::parse(nodeList);
    json["kind"] = "List";
    json["metadata"] = {{"resourceVersion", ""}};
    for (auto& item : json["items"]) {
        item["apiVersion"] = "v1";
        item["kind"] = "Node";
    }
    return json.dump(4);
}

std::string refusal(const std::string& json) {
    auto nodes = kubernetes::parseNodeList(json);
    return nodes.ok() ? std::string("(accepted)") : nodes.error().message;
}

}  // namespace

TEST_CASE("kubernetes node list: three ready nodes, one with eight H100s") {
    auto nodes = parsed(fixture("nodes-3-ready.json"));
    REQUIRE(nodes.size() == 3);
    const auto& cp = nodes[0];
    CHECK(cp.name == "k8s-cp-1");
    CHECK(cp.state == "Ready");
    CHECK_FALSE(cp.unschedulable);
    CHECK(cp.statusText() == "Ready");
    CHECK(cp.kubeletVersion == "v1.35.2");
    CHECK(cp.createdAt == "2026-03-02T09:14:07Z");
    CHECK(cp.internalIP == "10.0.0.10");
    CHECK(cp.externalIP == "203.0.113.10");
    CHECK(cp.conditions.size() == 5);
    REQUIRE(cp.condition("Ready") != nullptr);
    CHECK(*cp.condition("Ready") == kubernetes::NodeCondition{"Ready", "True", "2026-03-18T14:21:40Z",
                                                              "2026-03-02T09:15:05Z", "KubeletReady",
                                                              "kubelet is posting ready status"});
    CHECK(cp.condition("NetworkUnavailable")->reason == "FlannelIsUp");
    CHECK(cp.condition("Nonexistent") == nullptr);
    CHECK(cp.taints ==
          std::vector<kubernetes::Taint>{{"node-role.kubernetes.io/control-plane", "", "NoSchedule"}});
    CHECK(cp.labels.at("node-role.kubernetes.io/control-plane").empty());
    CHECK_FALSE(cp.accelerator.has_value());
    CHECK_FALSE(nodes[1].accelerator.has_value());
    CHECK(nodes[1].taints.empty());
    const auto& gpu = nodes[2];
    CHECK(gpu.name == "k8s-gpu-1");
    REQUIRE(gpu.accelerator.has_value());
    CHECK(*gpu.accelerator == kubernetes::Accelerator{"nvidia", "NVIDIA-H100-80GB-HBM3", "580.95.05", 8});
    CHECK(gpu.taints == std::vector<kubernetes::Taint>{kubernetes::gpuTaint()});
    CHECK(gpu.labels.at("nvidia.com/gpu.present") == "true");
}

TEST_CASE("kubernetes node list: unreachable and cordoned nodes") {
    auto nodes = parsed(fixture("nodes-notready.json"));
    REQUIRE(nodes.size() == 3);
    CHECK(nodes[0].statusText() == "Ready");
    CHECK(nodes[0].externalIP.empty());  // no cloud provider: no ExternalIP
    const auto& lost = nodes[1];
    CHECK(lost.name == "k8s-worker-1");
    CHECK(lost.state == "Unknown");  // kubelet stopped posting; kubectl says NotReady
    CHECK(lost.condition("Ready")->reason == "NodeStatusUnknown");
    CHECK(lost.condition("Ready")->lastHeartbeatTime == "2026-03-18T14:02:17Z");
    CHECK(lost.taints.size() == 2);
    CHECK(lost.taints[1] == kubernetes::Taint{"node.kubernetes.io/unreachable", "", "NoExecute"});
    const auto& cordoned = nodes[2];
    CHECK(cordoned.state == "Ready");
    CHECK(cordoned.unschedulable);
    CHECK(cordoned.statusText() == "Ready,SchedulingDisabled");
    CHECK(cordoned.internalIP == "10.20.0.12");
}

TEST_CASE("kubernetes node list: kubectl's kind List reads the same as the API's NodeList") {
    for (const char* name : {"nodes-3-ready.json", "nodes-notready.json"}) {
        CAPTURE(name);
        auto raw = parsed(fixture(name));
        auto list = parsed(asKubectlList(fixture(name)));
        REQUIRE(list.size() == raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            CHECK(list[i].name == raw[i].name);
            CHECK(list[i].statusText() == raw[i].statusText());
            CHECK(list[i].conditions == raw[i].conditions);
            CHECK(list[i].labels == raw[i].labels);
            CHECK(list[i].taints == raw[i].taints);
            CHECK(list[i].accelerator == raw[i].accelerator);
        }
    }
}

TEST_CASE("kubernetes node list: optional members may be missing or of the wrong type") {
    auto nodes = parsed(R"({"kind":"NodeList","items":[{"metadata":{"name":"bare"}},
        {"metadata":{"name":"odd","labels":{"a":1,"b":"x","nvidia.com/cuda.driver.major":"535",
                     "nvidia.com/cuda.driver.minor":"104","nvidia.com/cuda.driver.rev":"12",
                     "nvidia.com/gpu.product":"Tesla-T4"},"creationTimestamp":7},
         "spec":{"unschedulable":"yes","taints":[1,{"key":"k"}]},
         "status":{"conditions":[{"type":"Ready","status":"False"},"x"],"addresses":{"type":"InternalIP"},
                   "capacity":{"nvidia.com/gpu":"99999"},"nodeInfo":[]}}]})");
    REQUIRE(nodes.size() == 2);
    CHECK(nodes[0].name == "bare");
    CHECK(nodes[0].state == "Unknown");  // no Ready condition yet
    CHECK(nodes[0].conditions.empty());
    CHECK_FALSE(nodes[0].accelerator.has_value());
    const auto& odd = nodes[1];
    CHECK(odd.state == "NotReady");
    CHECK_FALSE(odd.unschedulable);
    CHECK(odd.createdAt.empty());
    CHECK(odd.labels == kubernetes::Labels{{"b", "x"},
                                           {"nvidia.com/cuda.driver.major", "535"},
                                           {"nvidia.com/cuda.driver.minor", "104"},
                                           {"nvidia.com/cuda.driver.rev", "12"},
                                           {"nvidia.com/gpu.product", "Tesla-T4"}});
    CHECK(odd.taints == std::vector<kubernetes::Taint>{{"k", "", ""}});
    CHECK(odd.internalIP.empty());
    REQUIRE(odd.accelerator.has_value());
    CHECK(*odd.accelerator == kubernetes::Accelerator{"nvidia", "Tesla-T4", "535.104.12", 0});
    CHECK(parsed(R"({"kind":"List","items":[]})").empty());
}

TEST_CASE("kubernetes node list: malformed output is an error, never a crash") {
    CHECK(refusal("") == "node list: not a JSON object");
    CHECK(refusal("not json") == "node list: not a JSON object");
    CHECK(refusal("[]") == "node list: not a JSON object");
    CHECK(refusal(R"({"kind":"NodeList","items":[)") == "node list: not a JSON object");
    CHECK(refusal(R"({"kind":"PodList","items":[]})") == "node list: kind must be NodeList or List");
    CHECK(refusal(R"({"items":[]})") == "node list: kind must be NodeList or List");
    CHECK(refusal(R"({"kind":"NodeList"})") == "node list: items is not an array");
    CHECK(refusal(R"({"kind":"NodeList","items":{}})") == "node list: items is not an array");
    CHECK(refusal(R"({"kind":"NodeList","items":[7]})") == "node list: items[0] is not a Node");
    CHECK(refusal(R"({"kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"}}]})") ==
          "node list: items[0] is not a Node");
    CHECK(refusal(R"({"kind":"NodeList","items":[{"metadata":{"name":"a"}},{"metadata":{}}]})") ==
          "node list: items[1].metadata.name is missing");
    CHECK(kubernetes::parseNodeList("x").error().code == model::ErrorCode::Internal);
    CHECK(refusal(std::string(100000, '[')) == "node list: not a JSON object");
    CHECK(refusal(std::string((64 << 20) + 1, ' ')).find("larger than") != std::string::npos);
    for (const auto& hostile : test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        CHECK(refusal(hostile.bytes) != "(accepted)");
        // As a name the string is just data.
        auto name =
            nlohmann::json(hostile.bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        auto nodes =
            kubernetes::parseNodeList(R"({"kind":"NodeList","items":[{"metadata":{"name":)" + name + "}}]}");
        REQUIRE(nodes.ok());
        CHECK(nodes->at(0).state == "Unknown");
    }
    // Truncated at every point of a real list: an error or a shorter list, never a crash.
    auto text = fixture("nodes-notready.json");
    for (std::size_t size = 0; size < text.size(); size += 97) {
        CHECK_FALSE(kubernetes::parseNodeList(text.substr(0, size)).ok());
    }
}

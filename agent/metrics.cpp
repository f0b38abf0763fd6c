#include "metrics.hpp"

#include <cstdio>

namespace gpuhost::agent {

namespace {

std::string formatDouble(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.9g", value);
    return buffer;
}

// Label values come from route templates and config, but escape them anyway.
std::string labelValue(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

void LatencyHistogram::observe(double seconds) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        if (seconds <= kBuckets[i]) {
            ++counts_[i];
        }
    }
    ++total_;
    sum_ += seconds;
}

void LatencyHistogram::render(std::string& out, std::string_view name, std::string_view labels) const {
    std::string prefix = std::string(name) + "_bucket{" + std::string(labels) + (labels.empty() ? "" : ",");
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        out += prefix + "le=\"" + formatDouble(kBuckets[i]) + "\"} " + std::to_string(counts_[i]) + "\n";
    }
    out += prefix + "le=\"+Inf\"} " + std::to_string(total_) + "\n";
    std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
    out += std::string(name) + "_sum" + braces + " " + formatDouble(sum_) + "\n";
    out += std::string(name) + "_count" + braces + " " + std::to_string(total_) + "\n";
}

void Metrics::observeRequest(std::string_view route, std::string_view method, unsigned status,
                             double seconds) {
    std::lock_guard lock(mutex_);
    ++requests_[{route, method, status}];
    requestLatency_[route].observe(seconds);
}

void Metrics::observeStore(std::string_view operation, double seconds) {
    std::lock_guard lock(mutex_);
    storeLatency_[operation].observe(seconds);
}

void Metrics::addResourceCounter(ResourceCounter counter) {
    std::lock_guard lock(mutex_);
    resourceCounters_.push_back(std::move(counter));
}

std::string Metrics::render() const {
    std::vector<ResourceCounter> counters;
    std::string out;
    {
        std::lock_guard lock(mutex_);
        counters = resourceCounters_;
        out += "# HELP gpuhost_http_requests_total HTTP requests by route template, method and status.\n";
        out += "# TYPE gpuhost_http_requests_total counter\n";
        for (const auto& [key, count] : requests_) {
            const auto& [route, method, status] = key;
            out += "gpuhost_http_requests_total{route=\"" + labelValue(route) + "\",method=\"" +
                   labelValue(method) + "\",status=\"" + std::to_string(status) + "\"} " +
                   std::to_string(count) + "\n";
        }
        out += "# HELP gpuhost_http_request_duration_seconds Time from a parsed request to its response.\n";
        out += "# TYPE gpuhost_http_request_duration_seconds histogram\n";
        for (const auto& [route, histogram] : requestLatency_) {
            histogram.render(out, "gpuhost_http_request_duration_seconds",
                             "route=\"" + labelValue(route) + "\"");
        }
        out += "# HELP gpuhost_store_operation_duration_seconds SQLite store operations, including fsync.\n";
        out += "# TYPE gpuhost_store_operation_duration_seconds histogram\n";
        for (const auto& [operation, histogram] : storeLatency_) {
            histogram.render(out, "gpuhost_store_operation_duration_seconds",
                             "operation=\"" + labelValue(operation) + "\"");
        }
    }
    // Counters read service state; call them without holding the metrics lock.
    out += "# HELP gpuhost_resources Resources by kind and state.\n";
    out += "# TYPE gpuhost_resources gauge\n";
    for (const auto& counter : counters) {
        for (const auto& sample : counter()) {
            out += "gpuhost_resources{kind=\"" + labelValue(sample.kind) + "\",state=\"" +
                   labelValue(sample.state) + "\"} " + std::to_string(sample.count) + "\n";
        }
    }
    return out;
}

}  // namespace gpuhost::agent

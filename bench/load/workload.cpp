#include "workload.hpp"

#include <nlohmann/json.hpp>

namespace gpuhost::bench {

namespace {

const std::string kBase = "/api/v1alpha1";

}  // namespace

Workload::Workload(std::string token, std::vector<std::string> projects, std::string instanceType)
    : token_(std::move(token)), projects_(std::move(projects)), instanceType_(std::move(instanceType)) {}

void Workload::adopt(const std::string& id, const std::string& project, bool running) {
    instances_[id] = Tracked{project, running, false};
    addReadable(id);
    if (running) {
        deletable_.push_back(id);
    }
}

void Workload::addReadable(const std::string& id) {
    if (!readableAt_.contains(id)) {
        readableAt_[id] = readable_.size();
        readable_.push_back(id);
    }
}

void Workload::dropReadable(const std::string& id) {
    auto it = readableAt_.find(id);
    if (it == readableAt_.end()) {
        return;
    }
    std::size_t at = it->second;
    readableAt_.erase(it);
    if (at != readable_.size() - 1) {
        readable_[at] = std::move(readable_.back());
        readableAt_[readable_[at]] = at;
    }
    readable_.pop_back();
}

std::map<std::string, std::string> Workload::live() const {
    std::map<std::string, std::string> out;
    for (const auto& [id, tracked] : instances_) {
        out[id] = tracked.project;
    }
    return out;
}

Planned Workload::next(Clock::time_point due) {
    double draw = std::uniform_real_distribution<double>(0, 1)(random_);
    if ((draw -= mix_.creates) < 0) {
        return create(due);
    }
    if ((draw -= mix_.deletes) < 0) {
        return remove(due);
    }
    if ((draw -= mix_.lists) < 0) {
        return ofProject(Kind::ListInstances, due);
    }
    if ((draw -= mix_.projects) < 0) {
        return ofProject(Kind::GetProject, due);
    }
    return getInstance(due);
}

Planned Workload::ofProject(Kind kind, Clock::time_point due) {
    const auto& project = projects_[random_() % projects_.size()];
    std::string target = kind == Kind::GetProject ? kBase + "/projects/" + project : kBase + "/instances";
    return {kind, makeRequest(http::verb::get, target, {token_, project}), {}, project, due};
}

Planned Workload::getInstance(Clock::time_point due) {
    if (readable_.empty()) {
        return ofProject(Kind::GetProject, due);
    }
    const auto& id = readable_[random_() % readable_.size()];
    const auto& project = instances_.at(id).project;
    return {Kind::GetInstance, makeRequest(http::verb::get, kBase + "/instances/" + id, {token_, project}),
            id, project, due};
}

Planned Workload::create(Clock::time_point due) {
    const auto& project = projects_[random_() % projects_.size()];
    nlohmann::json body = {{"name", "load-" + std::to_string(++created_)}, {"type", instanceType_}};
    return {Kind::Create,
            makeRequest(http::verb::post, kBase + "/instances", {token_, project}, body.dump()),
            {},
            project,
            due};
}

// Only instances seen running are deleted, oldest first: deleting one that is still
// being created is legal but is a different (and rarer) workload.
Planned Workload::remove(Clock::time_point due) {
    while (deletableHead_ < deletable_.size()) {
        std::string id = std::move(deletable_[deletableHead_++]);
        auto it = instances_.find(id);
        if (it == instances_.end() || it->second.deleteSent || !it->second.running) {
            continue;
        }
        it->second.deleteSent = true;
        dropReadable(id);
        return {Kind::Delete,
                makeRequest(http::verb::delete_, kBase + "/instances/" + id, {token_, it->second.project}),
                id, it->second.project, due};
    }
    ++noCandidate_;
    return getInstance(due);
}

void Workload::answered(const Planned& planned, const Response& response, Clock::duration latency) {
    Outcome outcome = Outcome::Error;
    switch (planned.kind) {
        case Kind::GetInstance:
            outcome = onGetInstance(planned, response);
            break;
        case Kind::Create:
            outcome = onCreate(planned, response);
            break;
        case Kind::Delete:
            outcome = onDelete(planned, response);
            break;
        case Kind::ListInstances:
        case Kind::GetProject:
            outcome = response.status == 200 ? Outcome::Ok : Outcome::Error;
            break;
    }
    stats_.record(planned.kind, outcome, latency, response.status, response.body);
}

Outcome Workload::onGetInstance(const Planned& planned, const Response& response) {
    auto it = instances_.find(planned.instanceId);
    if (response.status == 404 && (it == instances_.end() || it->second.deleteSent)) {
        return Outcome::Raced;
    }
    if (response.status != 200) {
        return Outcome::Error;
    }
    if (it != instances_.end() && !it->second.running &&
        response.body.find("\"state\":\"running\"") != std::string::npos) {
        it->second.running = true;
        deletable_.push_back(planned.instanceId);
    }
    return Outcome::Ok;
}

Outcome Workload::onCreate(const Planned& planned, const Response& response) {
    if (response.status != 201) {
        return Outcome::Error;
    }
    auto id = nlohmann::json::parse(response.body).at("id").get<std::string>();
    instances_[id] = Tracked{planned.project, false, false};
    addReadable(id);
    return Outcome::Ok;
}

Outcome Workload::onDelete(const Planned& planned, const Response& response) {
    const auto& id = planned.instanceId;
    if (response.status == 204) {
        instances_.erase(id);
        deleted_.insert(id);
        return Outcome::Ok;
    }
    if (response.status == 0) {
        instances_.erase(id);  // its fate is unknown: neither side of the final check
        return Outcome::Error;
    }
    // Still there: readable again, and deletable again later.
    instances_.at(id).deleteSent = false;
    addReadable(id);
    deletable_.push_back(id);
    return response.status == 503 && response.body.find("retry") != std::string::npos ? Outcome::Retryable
                                                                                      : Outcome::Error;
}

}  // namespace gpuhost::bench

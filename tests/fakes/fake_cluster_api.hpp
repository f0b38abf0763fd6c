#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "services/cluster_service.hpp"

namespace gpuhost::test {

/// An in-memory ClusterApi with the documented answers and none of the work: create stores
/// a PENDING view (no nodes; a test that wants some sets `views` directly), a name taken in
/// the project and kind is a Conflict, remove marks it DELETING, scaling marks it SCALING,
/// users get uids from Cluster::nextUid and are never applied.
class FakeClusterApi final : public agent::ClusterApi {
  public:
    std::map<model::Uuid, model::ClusterView> views;
    std::optional<agent::CreateCluster> lastCreate;
    /// What clientConfig answers for a cluster that exists (e.g. Unavailable); none: a text.
    std::optional<model::Error> clientConfigError;
    /// What create answers instead of a cluster (e.g. the service's InvalidArgument).
    std::optional<model::Error> createError;
    std::set<model::ClusterKind> offered{model::ClusterKind::Slurm, model::ClusterKind::Kubernetes};

    bool offers(model::ClusterKind kind) const override { return offered.contains(kind); }

    boost::asio::awaitable<model::Result<model::ClusterView>> create(const model::Uuid& project,
                                                                     model::ClusterKind kind,
                                                                     agent::CreateCluster request) override {
        lastCreate = request;
        if (createError) {
            co_return *createError;
        }
        for (const auto& [id, view] : views) {
            if (view.cluster.projectId == project && view.cluster.kind == kind &&
                view.cluster.name == request.name) {
                co_return model::Error::conflict("a cluster named " + request.name + " exists");
            }
        }
        model::ClusterView view;
        view.cluster = model::Cluster{
            .id = model::Uuid::random(),
            .projectId = project,
            .kind = kind,
            .name = request.name,
            .version = request.version,
            .controllerType = request.controllerType,
            .loginCount = request.loginCount,
            .loginType = request.loginType,
            .pools = request.pools,
            .users = {},
            .network = request.network,
            .deleting = false,
            .createdAt = std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now())};
        view.version = request.version;
        for (const auto& pool : request.pools) {
            view.pools.push_back({pool, {}});
        }
        views[view.cluster.id] = view;
        co_return view;
    }

    model::Result<model::ClusterView> get(const model::Uuid& project, model::ClusterKind kind,
                                          const model::Uuid& id) const override {
        auto found = find(project, kind, id);
        if (!found) {
            return found.error();
        }
        return **found;
    }

    std::vector<model::ClusterView> list(const model::Uuid& project, model::ClusterKind kind) const override {
        std::vector<model::ClusterView> out;
        for (const auto& [id, view] : views) {
            if (view.cluster.projectId == project && view.cluster.kind == kind) {
                out.push_back(view);
            }
        }
        return out;
    }

    boost::asio::awaitable<model::Result<void>> remove(const model::Uuid& project, model::ClusterKind kind,
                                                       const model::Uuid& id) override {
        auto found = find(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        (*found)->cluster.deleting = true;
        (*found)->status = {model::ClusterPhase::Deleting, "deleting"};
        co_return model::Result<void>{};
    }

    boost::asio::awaitable<model::Result<model::ClusterView>> upgrade(const model::Uuid& project,
                                                                      model::ClusterKind kind,
                                                                      const model::Uuid& id,
                                                                      std::string version) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        (*found)->cluster.version = version;
        co_return **found;
    }

    model::Result<std::string> clientConfig(const model::Uuid& project, model::ClusterKind kind,
                                            const model::Uuid& id) const override {
        auto found = find(project, kind, id);
        if (!found) {
            return found.error();
        }
        if (clientConfigError) {
            return *clientConfigError;
        }
        return "kubeconfig of " + (*found)->cluster.name;
    }

    boost::asio::awaitable<model::Result<model::ClusterView>> addPool(const model::Uuid& project,
                                                                      model::ClusterKind kind,
                                                                      const model::Uuid& id,
                                                                      model::ClusterPool pool) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        model::ClusterView& view = **found;
        if (view.cluster.findPool(pool.name) != nullptr) {
            co_return model::Error::conflict("a node pool named " + pool.name + " exists");
        }
        view.cluster.pools.push_back(pool);
        view.pools.push_back({pool, {}});
        view.status = {model::ClusterPhase::Scaling, "adding " + pool.name};
        co_return view;
    }

    boost::asio::awaitable<model::Result<model::ClusterView>> scalePool(const model::Uuid& project,
                                                                        model::ClusterKind kind,
                                                                        const model::Uuid& id,
                                                                        std::string pool,
                                                                        unsigned count) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        model::ClusterView& view = **found;
        auto it = std::find_if(view.pools.begin(), view.pools.end(),
                               [&](const model::ClusterPoolView& p) { return p.pool.name == pool; });
        if (it == view.pools.end()) {
            co_return model::Error::notFound("node pool");
        }
        it->pool.count = count;
        for (auto& desired : view.cluster.pools) {
            desired.count = desired.name == pool ? count : desired.count;
        }
        view.status = {model::ClusterPhase::Scaling, "scaling " + pool};
        co_return view;
    }

    boost::asio::awaitable<model::Result<void>> removePool(const model::Uuid& project,
                                                           model::ClusterKind kind, const model::Uuid& id,
                                                           std::string pool) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        model::ClusterView& view = **found;
        if (view.cluster.findPool(pool) == nullptr) {
            co_return model::Error::notFound("node pool");
        }
        std::erase_if(view.cluster.pools, [&](const model::ClusterPool& p) { return p.name == pool; });
        std::erase_if(view.pools, [&](const model::ClusterPoolView& p) { return p.pool.name == pool; });
        co_return model::Result<void>{};
    }

    model::Result<std::vector<model::ClusterUserView>> users(const model::Uuid& project,
                                                             model::ClusterKind kind,
                                                             const model::Uuid& id) const override {
        auto found = find(project, kind, id);
        if (!found) {
            return found.error();
        }
        std::vector<model::ClusterUserView> out;
        for (const auto& user : (*found)->cluster.users) {
            out.push_back({user, false});
        }
        return out;
    }

    model::Result<model::ClusterUserView> user(const model::Uuid& project, model::ClusterKind kind,
                                               const model::Uuid& id,
                                               const std::string& username) const override {
        auto found = find(project, kind, id);
        if (!found) {
            return found.error();
        }
        const model::ClusterUser* user = (*found)->cluster.findUser(username);
        if (user == nullptr) {
            return model::Error::notFound("user");
        }
        return model::ClusterUserView{*user, false};
    }

    boost::asio::awaitable<model::Result<model::ClusterUserView>> addUser(const model::Uuid& project,
                                                                          model::ClusterKind kind,
                                                                          const model::Uuid& id,
                                                                          model::ClusterUser user) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        model::Cluster& cluster = (*found)->cluster;
        if (cluster.findUser(user.username) != nullptr) {
            co_return model::Error::conflict("user " + user.username + " exists");
        }
        user.uid = cluster.nextUid();
        cluster.users.push_back(user);
        co_return model::ClusterUserView{user, false};
    }

    boost::asio::awaitable<model::Result<model::ClusterUserView>> updateUser(
        const model::Uuid& project, model::ClusterKind kind, const model::Uuid& id, std::string username,
        model::ClusterUserUpdate update) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        auto& users = (*found)->cluster.users;
        auto it = std::find_if(users.begin(), users.end(),
                               [&](const model::ClusterUser& u) { return u.username == username; });
        if (it == users.end()) {
            co_return model::Error::notFound("user");
        }
        it->sshKeys = update.sshKeys.value_or(it->sshKeys);
        it->sudo = update.sudo.value_or(it->sudo);
        co_return model::ClusterUserView{*it, false};
    }

    boost::asio::awaitable<model::Result<void>> removeUser(const model::Uuid& project,
                                                           model::ClusterKind kind, const model::Uuid& id,
                                                           std::string username) override {
        auto found = changeable(project, kind, id);
        if (!found) {
            co_return found.error();
        }
        if (std::erase_if((*found)->cluster.users,
                          [&](const model::ClusterUser& u) { return u.username == username; }) == 0) {
            co_return model::Error::notFound("user");
        }
        co_return model::Result<void>{};
    }

  private:
    model::Result<const model::ClusterView*> find(const model::Uuid& project, model::ClusterKind kind,
                                                  const model::Uuid& id) const {
        auto it = views.find(id);
        if (it == views.end() || it->second.cluster.projectId != project || it->second.cluster.kind != kind) {
            return model::Error::notFound("cluster");
        }
        return &it->second;
    }

    // A cluster that may still change: Conflict once it is being deleted.
    model::Result<model::ClusterView*> changeable(const model::Uuid& project, model::ClusterKind kind,
                                                  const model::Uuid& id) {
        auto found = find(project, kind, id);
        if (!found) {
            return found.error();
        }
        if ((*found)->cluster.deleting) {
            return model::Error::conflict("the cluster is being deleted");
        }
        return *found;
    }

    model::Result<model::ClusterView*> find(const model::Uuid& project, model::ClusterKind kind,
                                            const model::Uuid& id) {
        auto found = std::as_const(*this).find(project, kind, id);
        if (!found) {
            return found.error();
        }
        return const_cast<model::ClusterView*>(*found);
    }
};

}  // namespace gpuhost::test

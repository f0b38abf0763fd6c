#include <doctest/doctest.h>

#include "fakes/fake_project_store.hpp"
#include "services/project_service.hpp"
#include "support/run_coroutine.hpp"

using namespace gpuhost;
using gpuhost::test::runCoroutine;

namespace {

struct Fixture {
    test::FakeProjectStore store;
    agent::BlockingPool pool{2};
    agent::ProjectService service{store, pool};
    model::Principal operatorToken{.name = "op", .allProjects = true, .projects = {}, .scope = "*"};

    model::Result<model::Project> create(const std::string& name, const model::Principal& who) {
        return runCoroutine(service.create(who, model::CreateProject{name, {}}));
    }
};

}  // namespace

TEST_CASE("projects: created durably, listed and fetched by id") {
    Fixture f;
    auto project = f.create("team-a", f.operatorToken);
    REQUIRE(project.ok());
    CHECK(project->state == model::ProjectState::Active);
    CHECK(f.store.size() == 1);
    CHECK(f.service.list(f.operatorToken).size() == 1);
    CHECK(f.service.get(f.operatorToken, project->id).ok());
    CHECK(f.service.exists(project->id));
}

TEST_CASE("projects: only operator tokens create, scoped tokens see only their projects") {
    Fixture f;
    auto a = f.create("a", f.operatorToken);
    auto b = f.create("b", f.operatorToken);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    model::Principal scoped{
        .name = "scoped", .allProjects = false, .projects = {a->id}, .scope = a->id.str()};
    auto denied = f.create("c", scoped);
    REQUIRE_FALSE(denied.ok());
    CHECK(denied.error().code == model::ErrorCode::PermissionDenied);
    auto visible = f.service.list(scoped);
    REQUIRE(visible.size() == 1);
    CHECK(visible[0].id == a->id);
    CHECK(f.service.get(scoped, b->id).error().code == model::ErrorCode::NotFound);
    auto removed = runCoroutine(f.service.remove(scoped, b->id));
    CHECK(removed.error().code == model::ErrorCode::NotFound);
    CHECK(f.service.exists(b->id));
}

TEST_CASE("projects: duplicate names conflict, a store failure changes nothing") {
    Fixture f;
    REQUIRE(f.create("same", f.operatorToken).ok());
    CHECK(f.create("same", f.operatorToken).error().code == model::ErrorCode::Conflict);
    f.store.failNext(model::Error::internal("disk I/O error"));
    auto failed = f.create("other", f.operatorToken);
    CHECK(failed.error().code == model::ErrorCode::Internal);
    CHECK(f.service.list(f.operatorToken).size() == 1);
    CHECK(f.store.size() == 1);
}

TEST_CASE("projects: deleting one that owns resources → Conflict, and it stays") {
    Fixture f;
    auto project = f.create("busy", f.operatorToken);
    REQUIRE(project.ok());
    f.store.markOwnsResources(project->id);
    auto removed = runCoroutine(f.service.remove(f.operatorToken, project->id));
    REQUIRE_FALSE(removed.ok());
    CHECK(removed.error().code == model::ErrorCode::Conflict);
    CHECK(f.service.exists(project->id));
}

TEST_CASE("projects: delete removes from store and index, generation moves on every change") {
    Fixture f;
    auto before = f.service.generation();
    auto project = f.create("gone", f.operatorToken);
    REQUIRE(project.ok());
    CHECK(f.service.generation() > before);
    auto mid = f.service.generation();
    REQUIRE(runCoroutine(f.service.remove(f.operatorToken, project->id)).ok());
    CHECK(f.service.generation() > mid);
    CHECK_FALSE(f.service.exists(project->id));
    CHECK(f.store.size() == 0);
    auto counts = f.service.countByState();
    CHECK(counts.size() == 2);
}

TEST_CASE("projects: load restores what the store holds") {
    Fixture f;
    REQUIRE(f.create("kept", f.operatorToken).ok());
    agent::ProjectService restarted(f.store, f.pool);
    REQUIRE(restarted.loadBlocking().ok());
    auto all = restarted.list(f.operatorToken);
    REQUIRE(all.size() == 1);
    CHECK(all[0].name == "kept");
}

// List routes through the pure request handler: pages and their headers, and the plain
// lists rendered once per change with every response sending the very same bytes.
#include <doctest/doctest.h>

#include "api_fixture.hpp"

using namespace gpuhost;
using namespace gpuhost::test::api_fixture;

namespace {

const std::string kInstances = "/api/v1alpha1/instances";

void createInstance(Fixture& f, const std::string& project, const std::string& name) {
    auto created = f.send(http::verb::post, kInstances, kOperator,
                          R"({"name":")" + name + R"(","type":"cpu.small"})", project);
    REQUIRE_MESSAGE(created.result() == http::status::created, created.body().str());
}

std::size_t items(const Response& response) {
    return nlohmann::json::parse(response.body().str()).size();
}

}  // namespace

TEST_CASE("list rendering: the plain instance list is shared until the project's instances change") {
    Fixture f;
    auto project = f.createProject("shared");
    createInstance(f, project, "a");
    createInstance(f, project, "b");
    auto first = f.send(http::verb::get, kInstances, kOperator, {}, project);
    auto second = f.send(http::verb::get, kInstances, kOperator, {}, project);
    REQUIRE(first.result() == http::status::ok);
    CHECK(items(first) == 2);
    CHECK(first.body().sameAs(second.body()));  // one rendering, two responses
    CHECK(first[http::field::content_length] == std::to_string(first.body().size()));

    createInstance(f, project, "c");
    auto third = f.send(http::verb::get, kInstances, kOperator, {}, project);
    CHECK_FALSE(third.body().sameAs(second.body()));  // never staler than a fresh rendering
    CHECK(items(third) == 3);

    // Another project's list is its own.
    auto other = f.createProject("other");
    auto empty = f.send(http::verb::get, kInstances, kOperator, {}, other);
    CHECK(empty.body() == "[]");

    auto projects = f.send(http::verb::get, "/api/v1alpha1/projects");
    CHECK(projects.body().sameAs(f.send(http::verb::get, "/api/v1alpha1/projects").body()));
    f.createProject("third");
    auto more = f.send(http::verb::get, "/api/v1alpha1/projects");
    CHECK(items(more) == 3);
}

TEST_CASE("list rendering: a cut list names its next page in headers, the body stays an array") {
    Fixture f;
    f.context.listMaxItems = 2;
    auto project = f.createProject("paged");
    for (auto name : {"a", "b", "c"}) {
        createInstance(f, project, name);
    }
    auto plain = f.send(http::verb::get, kInstances, kOperator, {}, project);
    REQUIRE(plain.result() == http::status::ok);
    CHECK(items(plain) == 2);
    std::string cursor(plain["X-Next-Cursor"]);
    REQUIRE_FALSE(cursor.empty());
    CHECK(plain[http::field::link] == "<" + kInstances + "?cursor=" + cursor + ">; rel=\"next\"");
    auto rest = f.send(http::verb::get, kInstances + "?cursor=" + cursor, kOperator, {}, project);
    CHECK(items(rest) == 1);
    CHECK(rest["X-Next-Cursor"].empty());
    CHECK(rest[http::field::link].empty());

    auto one = f.send(http::verb::get, kInstances + "?limit=1", kOperator, {}, project);
    CHECK(items(one) == 1);
    CHECK_FALSE(one["X-Next-Cursor"].empty());

    auto bad = f.send(http::verb::get, kInstances + "?cursor=xyz", kOperator, {}, project);
    CHECK(bad.result() == http::status::bad_request);
    CHECK(nlohmann::json::parse(bad.body().str()).at("field") == "cursor");
    auto tooMany = f.send(http::verb::get, "/api/v1alpha1/filesystems?limit=3", kOperator, {}, project);
    CHECK(tooMany.result() == http::status::bad_request);
    CHECK(nlohmann::json::parse(tooMany.body().str()).at("field") == "limit");
}

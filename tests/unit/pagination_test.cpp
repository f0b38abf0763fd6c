// The pagination module every list route shares: the query it reads, the cursor it gives
// out (opaque, and refused when it is not one of its own), and pages that neither repeat
// nor skip an item while the list changes between them.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "pagination.hpp"

using namespace gpuhost::api;

namespace {

struct Item {
    std::int64_t order;
    std::string id;
};

PageKey keyOf(const Item& item) {
    return PageKey{item.order, item.id};
}

PageRequest parsed(const std::string& target, std::size_t max = 1000) {
    auto request = parsePageRequest(target, max);
    REQUIRE_MESSAGE(request.ok(), target);
    return *request;
}

std::string refusedField(const std::string& target, std::size_t max = 1000) {
    auto request = parsePageRequest(target, max);
    REQUIRE_FALSE_MESSAGE(request.ok(), target);
    CHECK(request.error().code == gpuhost::model::ErrorCode::InvalidArgument);
    return request.error().field;
}

}  // namespace

TEST_CASE("pagination: limit and cursor from the query, neither means the plain capped list") {
    auto plain = parsed("/api/v1alpha1/instances", 7);
    CHECK(plain.plain());
    CHECK(plain.limit == 7);
    auto other = parsed("/x?detail=true", 7);  // other parameters are the route's business
    CHECK(other.plain());
    auto limited = parsed("/x?limit=3");
    CHECK_FALSE(limited.plain());
    CHECK(limited.limit == 3);
    CHECK_FALSE(limited.after);
    auto cursor = encodeCursor(PageKey{1700000000123, "9b2e8c1a-0000-4000-8000-000000000001"});
    auto resumed = parsed("/x?cursor=" + cursor + "&limit=1000");
    CHECK(resumed.after);
    CHECK(resumed.from == PageKey{1700000000123, "9b2e8c1a-0000-4000-8000-000000000001"});
    CHECK(resumed.limit == 1000);
}

TEST_CASE("pagination: a bad limit or cursor is refused naming the parameter") {
    for (std::string query : {"limit=0", "limit=11", "limit=-1", "limit=+1", "limit=1.5", "limit=", "limit",
                              "limit=99999999999999999999999", "limit=1&limit=1"}) {
        CAPTURE(query);
        CHECK(refusedField("/x?" + query, 10) == "limit");
    }
    std::string valid = encodeCursor(PageKey{5, "a"});
    for (std::string query :
         {std::string("cursor="), std::string("cursor=%41"), std::string("cursor=a+b"),
          std::string("cursor=") + "bm90LWEtY3Vyc29y", std::string("cursor=YzEuMTIz"),
          std::string("cursor=") + valid + "&cursor=" + valid, std::string("cursor=") + std::string(513, 'A'),
          std::string("cursor=") + valid + "B"}) {
        CAPTURE(query);
        CHECK(refusedField("/x?" + query) == "cursor");
    }
}

TEST_CASE("pagination: a cursor decodes to the key it was made from, and nothing else decodes") {
    for (const auto& key : {PageKey{0, "x"}, PageKey{-5, "a/b"}, PageKey{1733011200000, "pool.with.dots"}}) {
        auto cursor = encodeCursor(key);
        CHECK(cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              std::string::npos);
        auto back = decodeCursor(cursor);
        REQUIRE(back.ok());
        CHECK(*back == key);
    }
    CHECK_FALSE(decodeCursor("YzEuNS4").ok());  // "c1.5." : no id
}

TEST_CASE("pagination: the next page's target keeps the query and replaces the cursor") {
    CHECK(nextPageTarget("/a/instances", "Q") == "/a/instances?cursor=Q");
    CHECK(nextPageTarget("/a/instances?limit=5", "Q") == "/a/instances?limit=5&cursor=Q");
    CHECK(nextPageTarget("/a/instances?cursor=P&limit=5", "Q") == "/a/instances?limit=5&cursor=Q");
}

TEST_CASE("pagination: a walk meets each surviving item once while items come and go between pages") {
    std::vector<Item> items;
    for (int i = 0; i < 20; ++i) {
        items.push_back(Item{100 + i / 3, "id-" + std::to_string(50 - i)});  // ties in order, ids unsorted
    }
    std::map<std::string, int> seen;
    PageRequest request = parsed("/x?limit=4");
    int pages = 0;
    for (;;) {
        auto page = takePage(items, request, keyOf);
        CHECK(page.items.size() <= 4);
        for (const auto& item : page.items) {
            ++seen[item.id];
        }
        ++pages;
        if (page.nextCursor.empty()) {
            break;
        }
        if (pages == 2) {
            items.erase(items.begin() + 1);                     // one already seen
            items.erase(items.begin() + 15);                    // one not seen yet
            items.push_back(Item{200, "id-late"});              // one made after the walk began
            items.insert(items.begin(), Item{99, "id-early"});  // one sorting before the cut: not met
        }
        request = parsed("/x?limit=4&cursor=" + page.nextCursor);
        REQUIRE(pages < 20);
    }
    for (const auto& [id, count] : seen) {
        CAPTURE(id);
        CHECK(count == 1);
    }
    for (const auto& item : items) {
        CAPTURE(item.id);
        CHECK(seen.contains(item.id) == (item.id != "id-early"));
    }
}

TEST_CASE("pagination: without a cursor a list is cut at the limit with a cursor to go on") {
    std::vector<Item> items = {{3, "c"}, {1, "a"}, {2, "b"}};
    auto first = takePage(items, parsed("/x", 2), keyOf);
    REQUIRE(first.items.size() == 2);
    CHECK(first.items[0].id == "a");
    CHECK(first.items[1].id == "b");
    REQUIRE_FALSE(first.nextCursor.empty());
    auto rest = takePage(items, parsed("/x?cursor=" + first.nextCursor, 2), keyOf);
    REQUIRE(rest.items.size() == 1);
    CHECK(rest.items[0].id == "c");
    CHECK(rest.nextCursor.empty());
    CHECK(takePage(items, parsed("/x", 3), keyOf).nextCursor.empty());  // fits exactly: no cursor
}

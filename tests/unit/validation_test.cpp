#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "model/validation.hpp"

using namespace gpuhost::model;

namespace {

struct BadInput {
    const char* what;
    std::string input;
};

}  // namespace

TEST_CASE("resource names: every bad input is rejected and the error names the field") {
    const std::vector<BadInput> cases = {
        {"empty", ""},
        {"64 characters", std::string(64, 'a')},
        {"uppercase", "Web"},
        {"underscore", "web_1"},
        {"dot", "web.1"},
        {"space", "web 1"},
        {"leading hyphen", "-web"},
        {"trailing hyphen", "web-"},
        {"only hyphen", "-"},
        {"slash", "a/b"},
        {"path traversal", "../etc"},
        {"newline", "web\n1"},
        {"NUL byte", std::string("web\0x", 5)},
        {"XML metacharacters", "<name>"},
        {"quote", "we'b"},
        {"shell metacharacters", "a;rm"},
        {"dollar", "$(id)"},
        {"unicode letter", "w\xc3\xa9"},
        {"tab", "a\tb"},
        {"colon", "a:b"},
        {"at sign", "a@b"},
        {"percent-encoded", "a%2fb"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto result = validateResourceName(c.input, "name");
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::InvalidArgument);
        CHECK(result.error().field == "name");
        CHECK(result.error().message.rfind("name: ", 0) == 0);
    }
}

TEST_CASE("resource names: the hostname-shaped ones are accepted") {
    for (const std::string& good :
         std::vector<std::string>{"a", "0", "web-1", "gpu-node-07", std::string(63, 'z'), "a-b-c"}) {
        CAPTURE(good);
        CHECK(validateResourceName(good).ok());
    }
}

TEST_CASE("project names: 1-128 printable characters") {
    const std::vector<BadInput> cases = {
        {"empty", ""},
        {"129 characters", std::string(129, 'p')},
        {"newline", "team\nx"},
        {"carriage return", "team\rx"},
        {"NUL", std::string("a\0b", 3)},
        {"escape", "a\x1b[31mred"},
        {"DEL", "a\x7f"},
        {"C1 control", "a\xc2\x85"},
        {"invalid UTF-8", "a\xff"},
        {"truncated UTF-8", "a\xc3"},
        {"overlong slash", "\xc0\xaf"},
        {"UTF-16 surrogate", "\xed\xa0\x80"},
        {"beyond U+10FFFF", "\xf4\x90\x80\x80"},
        {"line separator", "a\xe2\x80\xa8"},
        {"leading space", " team"},
        {"trailing space", "team "},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto result = validateProjectName(c.input);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "name");
    }
    CHECK(validateProjectName("ML Team (prod) #1").ok());
    CHECK(validateProjectName(std::string(128, 'x')).ok());
    CHECK(validateProjectName("\xc3\xa9quipe \xe6\x97\xa5\xe6\x9c\xac").ok());  // "équipe 日本"
    std::string wide;
    for (int i = 0; i < 128; ++i) {
        wide += "\xe6\x97\xa5";  // 128 code points, 384 bytes: counted as characters
    }
    CHECK(validateProjectName(wide).ok());
}

TEST_CASE("tags: keys, values and count follow the seed API's rules") {
    const std::vector<std::pair<const char*, Tags>> cases = {
        {"empty key", {{"", "v"}}},
        {"64-character key", {{std::string(64, 'k'), "v"}}},
        {"key with space", {{"my key", "v"}}},
        {"key starting with dot", {{".env", "v"}}},
        {"key ending with underscore", {{"env_", "v"}}},
        {"key starting with hyphen", {{"-env", "v"}}},
        {"key with slash", {{"a/b", "v"}}},
        {"key with colon", {{"a:b", "v"}}},
        {"key with newline", {{"a\nb", "v"}}},
        {"key with unicode", {{"\xc3\xa9t\xc3\xa9", "v"}}},
        {"256-character value", {{"k", std::string(256, 'v')}}},
        {"value with newline", {{"k", "a\nb"}}},
        {"value with NUL", {{"k", std::string("a\0b", 3)}}},
        {"value with invalid UTF-8", {{"k", "\xfe"}}},
    };
    for (const auto& [what, tags] : cases) {
        CAPTURE(what);
        auto result = validateTags(tags);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field.rfind("tags", 0) == 0);
    }
    Tags many;
    for (int i = 0; i < 65; ++i) {
        many["k" + std::to_string(i)] = "v";
    }
    CHECK_FALSE(validateTags(many).ok());
    many.erase("k0");
    CHECK(validateTags(many).ok());
    CHECK(validateTags({{"env", ""}, {"a.b_c-d", std::string(255, 'x')}, {std::string(63, 'K'), "ok"}}).ok());
}

TEST_CASE("UUIDs must be canonical") {
    const std::vector<BadInput> cases = {
        {"empty", ""},
        {"no hyphens", "2d7c4b1e52a84a8f9a590c9e1f4b7a11"},
        {"braces", "{2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11}"},
        {"too short", "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a1"},
        {"too long", "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a111"},
        {"non-hex", "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7azz"},
        {"hyphen misplaced", "2d7c4b1e5-2a8-4a8f-9a59-0c9e1f4b7a11"},
        {"urn prefix", "urn:uuid:2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11"},
        {"spaces", " 2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a1"},
        {"sql", "' OR 1=1 --aaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto result = parseUuidField(c.input, "X-PROJECT-ID");
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "X-PROJECT-ID");
    }
    auto parsed = parseUuidField("2D7C4B1E-52A8-4A8F-9A59-0C9E1F4B7A11", "id");
    REQUIRE(parsed.ok());
    CHECK(parsed->str() == "2d7c4b1e-52a8-4a8f-9a59-0c9e1f4b7a11");
    CHECK(Uuid::random() != Uuid::random());
}

TEST_CASE("binary sizes") {
    const std::vector<BadInput> cases = {
        {"empty", ""},
        {"no suffix", "512"},
        {"decimal suffix", "512G"},
        {"lowercase", "512gi"},
        {"zero", "0Gi"},
        {"leading zero", "01Gi"},
        {"negative", "-1Gi"},
        {"fraction", "1.5Gi"},
        {"space", "1 Gi"},
        {"suffix only", "Gi"},
        {"overflow", "99999999999Ti"},
        {"bytes suffix", "1GiB"},
        {"plus sign", "+1Gi"},
        {"hex", "0x10Gi"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.what);
        auto result = parseBinarySize(c.input, "size");
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "size");
    }
    CHECK(*parseBinarySize("512Gi", "size") == 512ull << 30);
    CHECK(*parseBinarySize("1Ki", "size") == 1024);
    CHECK(*parseBinarySize("16777215Ti", "size") == 16777215ull << 40);
    CHECK(formatBinarySize(512ull << 30) == "512Gi");
    CHECK(formatBinarySize(1536ull << 20) == "1536Mi");
    CHECK(formatBinarySize(1ull << 40) == "1Ti");
}

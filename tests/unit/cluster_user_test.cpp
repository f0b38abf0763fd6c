// Cluster users (agent/model/posix_user, ssh_key): names every node's useradd accepts and that
// no system account owns; SSH keys that are exactly one well-formed public key each. The real keys
// below came from ssh-keygen (OpenSSH 9.2); the security-key ones are built to PROTOCOL.u2f.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hostile_strings.hpp"
#include "model/posix_user.hpp"
#include "model/ssh_key.hpp"

using namespace gpuhost::model;
using namespace std::literals;
using Strings = std::vector<std::string>;

namespace {

const std::string kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJJoULgdfKfyqWkDw9EMQCiIzAiyMMVaQeNW2yvIdQ9u";
const std::string kRsa3072 =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAABgQDNqelHYyNUR8/"
    "ulNxKrjBOGjN5B2uChscwiP9SeaCgtgd29HYG3vnHLfunQ333xpkQGhHAbxfMDNE81rzFBb8O"
    "ZiR6uAEolT9DbYIVwofFOn4UtMxurXbaupX/"
    "1cVZ42l5X1MylS5D5mErqmbkEC+pL9rOBPIYchxuXalZUmRygWxkBSszKsOEX3OMONnbQpF1IOIvc+3O"
    "mCCtJatHuiP+TizIzxX0d/"
    "h8LH+xUR4SrV2EEaJNEg7qfoCPxzjDaIRiiPXJtcwmek26xpdrZGTGGo9mCV04fFgFTmPfap1kvEF5f55Yr4HKDLhMvxix"
    "qWKaLhBb3/+jev0ggLP3ZFbWMT7i5MrUgFKedX8k6wRDblXXBFbxIeqHG1QvTCzt4XOL63iPcCXH2JlzpVQHsYLQXQPIlnsBmh/"
    "rhz8RE05J8j7Kq411"
    "mLgsncO5vNqIFIbzyrKgbYt0xRhqr73F71Ooxuk+LLYSJIAnCA1ZRCE0l6s1AzeSCQpI3Op5P/X5Q8M=";
const std::string kRsa1024 =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDX8ESotI4MkC6DJSOQKdbvkY0HuLVU1bBbRNBw7dBzmxCx9bHasgyVNl7L43sgizs3tJjAr2iI"
    "VXYbPRfIpNZo"
    "qJgn8rnZXxMhppXBn6oJHrHTr+51QdiMCHSdsWe4it5bu28Bip38DBmvqqOJObkFwuusgylJ3ExjCCMQpnWEkw==";
const std::string kEcdsa256 =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNp/4DBzx+GqcDNMY7se4aEzhEG0dVVCav87/aaeqegF3/"
    "m96XGgxzs7RwCG5pNr"
    "2Rh+ZEYo7ppSHVYMZ7ec3U8=";
const std::string kEcdsa384 =
    "ecdsa-sha2-nistp384 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBGkmTHlbf7+6JhF4+Jh/"
    "L5s9mTU2S+EhH8KBNztHKoDSD+fDtEqZhvqGEK+avLPV"
    "ngvTSdBDfxbwpqkqJ5QjQBwLQQxhZd48dEkmsoDTShW/jGRT08fnt6nIb2RCZjUOZw==";
const std::string kEcdsa521 =
    "ecdsa-sha2-nistp521 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAFL3kYiCpzHALvpQeMaGLO/Zm6+fV27mBx/U5VjKV/"
    "Vqj2R0lwaKps7h41UURFT"
    "t8/s32vr5xuCkIGBFmRfVgd42gEDBowmufqk70uF1KCbEOtJoDwwty5opdGSd17OfReiiAEqDRERhuX6piv0RFPqLsYus5M/ga1/"
    "QpHtwEg9VUEtMA==";
const std::string kSkEd25519 =
    "sk-ssh-ed25519@openssh.com "
    "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gAAAABHNzaDo=";
const std::string kSkEcdsa =
    "sk-ecdsa-sha2-nistp256@openssh.com "
    "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBAABAgMEBQYHCAkKCwwNDg8QERITFBUW"
    "FxgZGhscHR4f"
    "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8AAAAEc3NoOg==";
const std::string kDsa =
    "ssh-dss "
    "AAAAB3NzaC1kc3MAAACBAKSoUIdcXOcTUvxe4XyfUVdSVV6i6iuwU1m/"
    "jzcBziIhbAuBLVsbfC1s5dmp4lsQJpZeun4L5oqZG73bai5HmJhVJtOaGk4c"
    "niH7ZciFlfiomOblIqvIQbMb7o5hftIOyIWuP9/uiKxZjr1Nrxe6WEL0MVCXrKMeWN8BtULP+cEDAAAAFQDBf2rLXyVUtQVOf50a2f/"
    "F8aGbUQAAAIAQ"
    "xL1lPtDqetLihvcsx971LmMTu7eDi9XX3/xjralXVulAibmOxCZTaAZ54p6vUvaygqDY3OYCsf+Fo4jE6/"
    "Vdra7dRWhuYy0zv6NIWuWnOfIHp/hOeBpp"
    "JGFNsf3eE7VOix+YlvUkvA7V7gWA2uaMOsCGUspWnVBHob7Vd97DrwAAAIAb0fRWV7M+"
    "Q6hGehjZxJYvjsOMJwAYB1sKMD3W63b6a37mDuVtGI9wAsa2"
    "7uRojRIMLGCKuNXE4ZPmGPmIpUIyZuOrs3tqX0o1pTHRT3f1fc9+4YF6WuAFuMxIPoDa3I0yMQ9U7W+lla5J5CQTgo+/"
    "LHhrFbTUAiYp7L4vLnwFFQ==";
const std::string kEd25519Blob = "AAAAC3NzaC1lZDI1NTE5AAAAIJJoULgdfKfyqWkDw9EMQCiIzAiyMMVaQeNW2yvIdQ9u";

void checkRefused(const std::string& key, const char* why) {
    CAPTURE(why);
    CAPTURE(key);
    auto parsed = parseSshPublicKey(key, "sshKeys[3]");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::InvalidArgument);
    CHECK(parsed.error().field == "sshKeys[3]");
    CHECK(parsed.error().message.starts_with("sshKeys[3]: "));
}

}  // namespace

TEST_CASE("posix usernames: the portable pattern, 1-32 characters") {
    for (std::string name :
         Strings{"alice", "a", "_x", "bob-2", "build_bot", "x1", std::string(32, 'a'), "ali-"}) {
        CAPTURE(name);
        CHECK(validatePosixUsername(name).ok());
    }
    const std::vector<std::string> bad = {"",        std::string(33, 'a'),
                                          "Alice",   "1alice",
                                          "-alice",  "al.ice",
                                          "al ice",  "alice$",
                                          "al@ice",  "ali\nce",
                                          "al\0ce"s, "é",
                                          "al/ice",  "..",
                                          "al:ice",  "al\tice"};
    for (const auto& name : bad) {
        CAPTURE(name);
        auto result = validatePosixUsername(name, "users[0].username");
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().field == "users[0].username");
        CHECK(result.error().code == ErrorCode::InvalidArgument);
    }
}

TEST_CASE("posix usernames: system accounts, groups and families are reserved") {
    for (std::string name : Strings{"root",
                                    "daemon",
                                    "bin",
                                    "sys",
                                    "sync",
                                    "games",
                                    "man",
                                    "lp",
                                    "mail",
                                    "news",
                                    "uucp",
                                    "proxy",
                                    "www-data",
                                    "backup",
                                    "list",
                                    "irc",
                                    "gnats",
                                    "nobody",
                                    "systemd-network",
                                    "systemd-timesync",
                                    "systemd-anything",
                                    "munge",
                                    "slurm",
                                    "messagebus",
                                    "_apt",
                                    "sshd",
                                    "polkitd",
                                    "sudo",
                                    "adm",
                                    "disk",
                                    "libvirt-qemu",
                                    "debian",
                                    "gpuhost"}) {
        CAPTURE(name);
        CHECK(isReservedUsername(name));
        auto result = validatePosixUsername(name);
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().message == "username: is reserved for a system account or group");
    }
    CHECK_FALSE(isReservedUsername("rooted"));
    CHECK_FALSE(isReservedUsername("systemd"));  // only the systemd-* family
    auto list = reservedUsernames();
    CHECK(std::is_sorted(list.begin(), list.end()));  // binary search depends on it
    CHECK(std::adjacent_find(list.begin(), list.end()) == list.end());
    for (auto name : list) {
        CAPTURE(name);
        CHECK(name.size() <= kMaxPosixUsernameLength);
    }
}

TEST_CASE("ssh keys: every supported type, real and crafted, normalizes to type blob comment") {
    struct Good {
        std::string line;
        std::string type;
    };
    for (const auto& [line, type] : std::vector<Good>{{kEd25519, "ssh-ed25519"},
                                                      {kRsa3072, "ssh-rsa"},
                                                      {kEcdsa256, "ecdsa-sha2-nistp256"},
                                                      {kEcdsa384, "ecdsa-sha2-nistp384"},
                                                      {kEcdsa521, "ecdsa-sha2-nistp521"},
                                                      {kSkEd25519, "sk-ssh-ed25519@openssh.com"},
                                                      {kSkEcdsa, "sk-ecdsa-sha2-nistp256@openssh.com"}}) {
        CAPTURE(line);
        auto key = parseSshPublicKey(line, "sshKeys[0]");
        REQUIRE(key.ok());
        CHECK(key->type == type);
        CHECK(key->comment.empty());
        CHECK(key->line() == line);
        auto commented = parseSshPublicKey(line + " user@laptop", "sshKeys[0]");
        REQUIRE(commented.ok());
        CHECK(commented->line() == line + " user@laptop");
    }
    CHECK(supportedSshKeyTypes().size() == 7);
}

TEST_CASE("ssh keys: spaces around and between fields are normalized, comments keep theirs") {
    auto key = parseSshPublicKey("  ssh-ed25519   " + kEd25519Blob + "   Alice's key (work)  ", "k");
    REQUIRE(key.ok());
    CHECK(key->comment == "Alice's key (work)");
    CHECK(key->line() == "ssh-ed25519 " + kEd25519Blob + " Alice's key (work)");
    auto unicode = parseSshPublicKey(kEd25519 + " José@portátil ✓", "k");
    REQUIRE(unicode.ok());
    CHECK(unicode->comment == "José@portátil ✓");
}

TEST_CASE("ssh keys: hostile and malformed lines are refused naming the field") {
    std::string blob = kEd25519Blob;
    checkRefused("", "empty");
    checkRefused("   ", "only spaces");
    checkRefused("ssh-ed25519", "no blob");
    checkRefused("ssh-ed25519 ", "no blob, trailing space");
    checkRefused(kEd25519 + "\n", "trailing newline");
    checkRefused(kEd25519 + "\r\n", "CRLF");
    checkRefused(kEd25519 + "\n" + kRsa3072, "two keys in one entry");
    checkRefused(kEd25519 + " a\0b"s, "NUL in comment");
    checkRefused("ssh-ed25519\t" + blob, "tab separator");
    checkRefused(kEd25519 + " \x1b[31mred", "escape sequence in comment");
    checkRefused(kEd25519 + " \x7f", "DEL");
    checkRefused(kEd25519 + " caf\xe9", "Latin-1 comment");
    checkRefused(kEd25519 + " \xc2\x85", "C1 NEL");
    checkRefused("command=\"/bin/sh\" " + kEd25519, "forced command");
    checkRefused("from=\"10.0.0.0/8\",no-pty " + kEd25519, "options list");
    checkRefused("no-pty " + kEd25519, "flag option");
    checkRefused("restrict " + kEd25519, "restrict");
    checkRefused("environment=\"LD_PRELOAD=/tmp/x\" " + kEd25519, "environment");
    checkRefused("cert-authority " + kEd25519, "cert-authority");
    checkRefused(kDsa, "DSA is retired");
    checkRefused(
        "ssh-ed25519-cert-v01@openssh.com "
        "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoL"
        "DA0ODxAREhMUFRYXGBkaGxwdHh8g",
        "certificate");
    checkRefused("SSH-ED25519 " + blob, "type is case-sensitive");
    checkRefused("ssh-rsa " + blob, "ed25519 blob under ssh-rsa");
    checkRefused("ecdsa-sha2-nistp384 " + kEcdsa256.substr(20), "p256 blob under p384");
    checkRefused(kRsa1024, "RSA 1024");
    checkRefused("ssh-ed25519 " + blob.substr(0, blob.size() - 4), "truncated blob");
    checkRefused("ssh-ed25519 " + blob.substr(0, blob.size() - 1), "length not a multiple of 4");
    checkRefused("ssh-ed25519 " + blob + "====", "extra padding");
    checkRefused("ssh-ed25519 AAAA=AAA" + blob, "padding in the middle");
    checkRefused("ssh-ed25519 " + blob.substr(0, 20) + "*" + blob.substr(21), "bad alphabet");
    checkRefused("ssh-ed25519 " + blob.substr(0, 20) + "-_" + blob.substr(22), "base64url alphabet");
    checkRefused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "only the type string");
    checkRefused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gAA==",
                 "trailing bytes");
    checkRefused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                 "31-byte key");
    checkRefused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5/////wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
                 "4 GiB length");
    checkRefused(
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAzODQAAABBBAABAgMEBQYHCAkKCwwNDg8QERIT"
        "FBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        "curve name differs");
    checkRefused(
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBAgAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "compressed point");
    checkRefused(
        "sk-ssh-ed25519@openssh.com "
        "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
        "security key without application");
    checkRefused("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAIAA" + std::string(345, 'A') + "=",
                 "negative modulus");
    checkRefused("ssh-ed25519 " + std::string(9000, 'A'), "too long");
    checkRefused("<script>alert(1)</script>", "html");
    checkRefused("'; rm -rf / #", "shell");
    checkRefused("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key");
    checkRefused("\xef\xbb\xbfssh-ed25519 " + blob, "BOM");
}

TEST_CASE("ssh keys: a list names the entry at fault, refuses repeats and more than 32") {
    auto keys = parseSshPublicKeys({kEd25519 + " one", kRsa3072});
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 2);
    CHECK(keys->at(0).comment == "one");
    CHECK(parseSshPublicKeys({}).ok());

    auto bad = parseSshPublicKeys({kEd25519, kRsa3072, "garbage"});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().field == "sshKeys[2]");
    auto repeated = parseSshPublicKeys({kEd25519 + " laptop", kRsa3072, kEd25519 + " desktop"});
    REQUIRE_FALSE(repeated.ok());
    CHECK(repeated.error().field == "sshKeys[2]");
    auto many = parseSshPublicKeys(std::vector<std::string>(33, kEd25519));
    REQUIRE_FALSE(many.ok());
    CHECK(many.error().field == "sshKeys");
}

TEST_CASE("ssh keys: every truncation and every single-byte corruption is handled without a crash") {
    // Fuzz-like: prefixes of a valid key, and each byte replaced by a few hostile ones. Each must
    // either parse to a key of the declared type or be refused; none may crash (ASan/UBSan build).
    for (const auto& line : {kEd25519 + " c", kEcdsa521, kSkEcdsa}) {
        for (std::size_t i = 0; i <= line.size(); ++i) {
            auto key = parseSshPublicKey(line.substr(0, i), "k");
            if (key.ok()) {
                CHECK(line.starts_with(key->line()));
            }
        }
        for (std::size_t i = 0; i < line.size(); ++i) {
            for (char c : {'\0', '\n', ' ', '=', 'A', '/', '\xff'}) {
                std::string mutated = line;
                mutated[i] = c;
                auto key = parseSshPublicKey(mutated, "k");
                if (!key.ok()) {
                    CHECK(key.error().field == "k");
                }
            }
        }
    }
}

TEST_CASE("cluster users: no shared hostile string is a key, refusals name the field") {
    for (const auto& hostile : gpuhost::test::loadHostileStrings()) {
        CAPTURE(hostile.line);
        auto name = validatePosixUsername(hostile.bytes, "username");
        if (!name.ok()) {
            CHECK(name.error().field == "username");
        }
        auto key = parseSshPublicKey(hostile.bytes, "sshKeys[0]");
        REQUIRE_FALSE(key.ok());
        CHECK(key.error().field == "sshKeys[0]");
        // As a comment: accepted only when printable, and then carried as given (trimmed).
        auto commented = parseSshPublicKey(kEd25519 + " " + hostile.bytes, "sshKeys[1]");
        if (commented.ok()) {
            CHECK(commented->line().find_first_of("\r\n"s + '\0') == std::string::npos);
        } else {
            CHECK(commented.error().field == "sshKeys[1]");
        }
    }
}

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "seed.hpp"
#include "support/golden.hpp"
#include "support/temp_dir.hpp"

using namespace gpuhost;

namespace {

const auto kInstance = *model::Uuid::parse("6f1c2a9e-8d4b-4c3a-9e2f-1a2b3c4d5e6f");

std::string base64Decode(const std::string& text) {
    std::string joined;
    for (char c : text) {
        if (c != '\n') {
            joined += c;
        }
    }
    std::string out(joined.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(joined.data()),
                            static_cast<int>(joined.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!joined.empty() && joined.back() == '=') {  // EVP_DecodeBlock keeps padding bytes
        joined.pop_back();
        out.pop_back();
    }
    return out;
}

struct MimePart {
    std::string headers;
    std::string body;
};

// Splits on the boundary line exactly as a MIME parser would.
std::vector<MimePart> mimeParts(const std::string& message, const std::string& boundary) {
    std::vector<MimePart> parts;
    std::string delimiter = "\n--" + boundary;
    auto at = message.find(delimiter);
    while (at != std::string::npos) {
        auto start = at + delimiter.size();
        if (message.compare(start, 2, "--") == 0) {
            break;
        }
        auto next = message.find(delimiter, start);
        std::string chunk = message.substr(start + 1, next - start - 1);
        auto split = chunk.find("\n\n");
        parts.push_back({chunk.substr(0, split), chunk.substr(split + 2)});
        at = next;
    }
    return parts;
}

}  // namespace

TEST_CASE("cloud-init: meta-data and network-config match the golden files") {
    auto meta = cloudinit::metaData(kInstance, "web-1");
    CHECK(meta == test::golden("cloudinit/meta-data.yaml", meta));
    auto network = cloudinit::networkConfig("52:54:00:4d:5e:6f");
    CHECK(network == test::golden("cloudinit/network-config.yaml", network));
    CHECK(cloudinit::networkConfig("52:54:00:12:34:56").find("macaddress: \"52:54:00:12:34:56\"") !=
          std::string::npos);
    CHECK(cloudinit::metaData(kInstance, "1234").find("local-hostname: \"1234\"") != std::string::npos);
}

TEST_CASE("cloud-init: the user's userData passes through byte for byte when it is the only part") {
    std::string user =
        "#cloud-config\nruncmd:\n  - [sh, -c, 'echo hi > /tmp/marker']\n# trailing: \x01\xff\n";
    auto out = cloudinit::userData(user, {});
    REQUIRE(out.ok());
    CHECK(*out == user);
    std::string binary("\x1f\x8b\x08\x00\x00\x00", 6);
    CHECK(*cloudinit::userData(binary, {}) == binary);
}

TEST_CASE("cloud-init: agent parts are merged as MIME multipart without touching the user's bytes") {
    // A hostile userData that contains our boundary and MIME headers of its own.
    std::string user = "#!/bin/sh\necho '\n--==gpuhost.part.boundary==\nContent-Type: text/cloud-config\n'\n";
    cloudinit::Part mounts{"text/cloud-config", "gpuhost-filesystems.cfg", "#cloud-config\nmounts: []\n"};
    auto out = cloudinit::userData(user, {mounts});
    REQUIRE(out.ok());
    CHECK(*out == test::golden("cloudinit/user-data-merged.mime", *out));
    CHECK(out->rfind("Content-Type: multipart/mixed; boundary=\"==gpuhost.part.boundary==\"", 0) == 0);
    auto parts = mimeParts(*out, "==gpuhost.part.boundary==");
    REQUIRE(parts.size() == 2);
    CHECK(parts[0].headers.find("Content-Type: text/x-shellscript") != std::string::npos);
    CHECK(base64Decode(parts[0].body) == user);
    CHECK(parts[1].headers.find("Merge-Type: list(append)") != std::string::npos);
    CHECK(base64Decode(parts[1].body) == mounts.content);
}

TEST_CASE("cloud-init: content types follow cloud-init's first-line rules") {
    CHECK(cloudinit::contentTypeOf("#cloud-config\n") == "text/cloud-config");
    CHECK(cloudinit::contentTypeOf("#cloud-config-archive\n") == "text/cloud-config-archive");
    CHECK(cloudinit::contentTypeOf("#!/bin/bash\n") == "text/x-shellscript");
    CHECK(cloudinit::contentTypeOf("#cloud-boothook\n") == "text/cloud-boothook");
    CHECK(cloudinit::contentTypeOf("#include\nhttp://x\n") == "text/x-include-url");
    CHECK(cloudinit::contentTypeOf("## template: jinja\n") == "text/jinja2");
    CHECK(cloudinit::contentTypeOf("hello") == "text/plain");
    CHECK(cloudinit::contentTypeOf("#include-once\nhttp://x\n") == "text/x-include-once-url");
    CHECK(cloudinit::contentTypeOf("#cloud-config-jsonp\n[]") == "text/cloud-config-jsonp");
    CHECK(cloudinit::contentTypeOf("From: x\nMIME-Version: 1.0\n\nhi") == "multipart/mixed");
    cloudinit::Part part{"text/cloud-config", "x.cfg", "#cloud-config\n"};
    auto gz = cloudinit::userData(std::string("\x1f\x8b\x08", 3), {part});
    REQUIRE_FALSE(gz.ok());
    CHECK(gz.error().field == "userData");
    CHECK_FALSE(cloudinit::userData("Content-Type: multipart/mixed; boundary=x\n\n", {part}).ok());
}

TEST_CASE("cloud-init: the filesystem mount part matches its golden file and cloud-init's schema") {
    CHECK_FALSE(cloudinit::mountPart({}).has_value());
    auto part = cloudinit::mountPart({{"0b7c2f4e-1d2a-4e5b-9c8d-7e6f5a4b3c2d", "datasets"},
                                      {"1c8d3a5f-2e3b-4f6c-8d9e-8f7a6b5c4d3e", "checkpoints-2"}});
    REQUIRE(part.has_value());
    CHECK(part->contentType == "text/cloud-config");
    CHECK(part->content == test::golden("cloud-init/mount-part.cfg", part->content));
    REQUIRE_MESSAGE(std::system("command -v cloud-init >/dev/null") == 0,
                    "cloud-init is required for `cloud-init schema`: ./test.sh installs it");
    auto path = test::goldenPath("cloud-init/mount-part.cfg");
    CHECK(std::system(("cloud-init schema --config-file '" + path.string() + "' >/dev/null 2>&1").c_str()) ==
          0);
    // And merged with a user's cloud-config, both parts survive as MIME parts.
    auto merged = cloudinit::userData("#cloud-config\nruncmd: [touch /tmp/user]\n", {*part});
    REQUIRE(merged.ok());
    CHECK(merged->find("gpuhost-filesystems.cfg") != std::string::npos);
}

namespace {

std::string shellQuoted(const std::string& word) {
    std::string out = "'";
    for (char c : word) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

// Runs one bootcmd argv as cloud-init would, with `mount` and `mountpoint` stubbed in
// `bin`; the stub mount records its arguments in bin/mounted.
int runBootcmd(const YAML::Node& argv, const std::filesystem::path& bin) {
    std::string command = "PATH=" + shellQuoted(bin.string()) + ":/usr/bin:/bin";
    for (const auto& word : argv) {
        command += " " + shellQuoted(word.as<std::string>());
    }
    return std::system(command.c_str());
}

void stub(const std::filesystem::path& path, const std::string& body) {
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE(
    "cloud-init: filesystems are mounted in bootcmd, before the user's runcmd, and again only if needed") {
    const std::string tag = "0b7c2f4e-1d2a-4e5b-9c8d-7e6f5a4b3c2d";
    auto part = cloudinit::mountPart({{tag, "datasets"}});
    REQUIRE(part.has_value());
    auto yaml = YAML::Load(part->content);
    // The user's part is merged first, so an agent runcmd would run after the user's.
    CHECK_FALSE(yaml["runcmd"].IsDefined());
    REQUIRE(yaml["bootcmd"].IsSequence());
    REQUIRE(yaml["bootcmd"].size() == 1);
    auto argv = yaml["bootcmd"][0];
    REQUIRE(argv.IsSequence());  // argv form: no name becomes shell text
    CHECK(argv[0].as<std::string>() == "sh");
    CHECK(argv[4].as<std::string>() == "/mnt/datasets");
    CHECK(argv[5].as<std::string>() == tag);
    CHECK(argv[2].as<std::string>().find("datasets") == std::string::npos);
    // Later boots still mount from fstab.
    CHECK(yaml["write_files"][0]["content"].as<std::string>().find(tag + " /mnt/datasets virtiofs") !=
          std::string::npos);

    // Run it: the first boot mounts the tag at the path; a boot where fstab already
    // mounted it succeeds without mounting again.
    test::TempDir dir;
    auto target = dir.path / "mnt" / "datasets";
    argv[4] = target.string();
    stub(dir.path / "mount", "echo \"$@\" >> \"$(dirname \"$0\")/mounted\"");
    stub(dir.path / "mountpoint", "exit 1");
    CHECK(runBootcmd(argv, dir.path) == 0);
    CHECK(std::filesystem::is_directory(target));
    CHECK(slurp(dir.path / "mounted") == "-t virtiofs " + tag + " " + target.string() + "\n");
    stub(dir.path / "mountpoint", "exit 0");
    CHECK(runBootcmd(argv, dir.path) == 0);
    CHECK(slurp(dir.path / "mounted") == "-t virtiofs " + tag + " " + target.string() + "\n");
    // A tag that cannot be mounted fails the command, so cloud-init reports it.
    stub(dir.path / "mountpoint", "exit 1");
    stub(dir.path / "mount", "exit 32");
    CHECK(runBootcmd(argv, dir.path) != 0);
}

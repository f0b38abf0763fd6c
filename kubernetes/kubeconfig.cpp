#include "kubeconfig.hpp"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace gpuhost::kubernetes {

std::string base64(std::string_view bytes) {
    // EVP_EncodeBlock takes an int: encode in chunks of whole 3-byte groups.
    constexpr std::size_t kChunk = 3 * 1024 * 1024;
    std::string out;
    out.reserve(4 * ((bytes.size() + 2) / 3));
    for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
        std::string_view chunk = bytes.substr(at, kChunk);
        std::string encoded(4 * ((chunk.size() + 2) / 3), '\0');
        int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                      reinterpret_cast<const unsigned char*>(chunk.data()),
                                      static_cast<int>(chunk.size()));
        encoded.resize(static_cast<std::size_t>(written));
        out += encoded;
    }
    return out;
}

namespace {

// kubectl reads YAML 1.1, where yes/no/on/off/y/n are booleans, and yaml-cpp writes those
// plain; so a text is written plain only when it can only be read as a string: it starts
// with a letter, holds no character YAML gives a meaning to, and is no bool or null word.
bool safelyPlain(std::string_view text) {
    static constexpr std::array<std::string_view, 9> kWords = {"y",     "n",  "yes", "no",  "true",
                                                               "false", "on", "off", "null"};
    if (text.empty() || !std::isalpha(static_cast<unsigned char>(text.front())) || text.back() == ':') {
        return false;
    }
    for (char c : text) {
        bool allowed = std::isalnum(static_cast<unsigned char>(c)) ||
                       std::string_view("._@/+=:-").find(c) != std::string_view::npos;
        if (!allowed) {
            return false;
        }
    }
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::find(kWords.begin(), kWords.end(), lower) == kWords.end();
}

void emitString(YAML::Emitter& out, const std::string& text) {
    if (!safelyPlain(text)) {
        out << YAML::DoubleQuoted;
    }
    out << text;
}

// A key and a string value, quoted when it must be.
void field(YAML::Emitter& out, const char* key, const std::string& value) {
    out << YAML::Key << key << YAML::Value;
    emitString(out, value);
}

}  // namespace

std::string renderKubeconfig(const KubeconfigRequest& request) {
    const std::string contextName = request.userName + "@" + request.clusterName;
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "apiVersion" << YAML::Value << "v1";
    out << YAML::Key << "kind" << YAML::Value << "Config";

    out << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    field(out, "name", request.clusterName);
    out << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap;
    field(out, "certificate-authority-data", base64(request.caCertPem));
    field(out, "server", request.server);
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;

    out << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    field(out, "name", contextName);
    out << YAML::Key << "context" << YAML::Value << YAML::BeginMap;
    field(out, "cluster", request.clusterName);
    field(out, "user", request.userName);
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;

    field(out, "current-context", contextName);
    out << YAML::Key << "preferences" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::EndMap;

    out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
    field(out, "name", request.userName);
    out << YAML::Key << "user" << YAML::Value << YAML::BeginMap;
    field(out, "client-certificate-data", base64(request.client.certPem));
    field(out, "client-key-data", base64(request.client.keyPem));
    out << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

}  // namespace gpuhost::kubernetes

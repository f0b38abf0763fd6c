#include "support/kubeadm_field_check.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>

namespace gpuhost::test {

namespace {

using kubernetes::KubernetesVersion;
using nlohmann::json;

json loadFixture(const std::string& name) {
    auto path = std::filesystem::path(GPUHOST_SOURCE_DIR) / "tests/fixtures/kubernetes" / name;
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot read " + path.string());
    }
    return json::parse(in);
}

const json& schemaOf(const std::string& apiVersion) {
    static const json v1beta3 = loadFixture("kubeadm-fields-v1beta3.json");
    static const json v1beta4 = loadFixture("kubeadm-fields-v1beta4.json");
    return apiVersion == "kubeadm.k8s.io/v1beta3" ? v1beta3 : v1beta4;
}

const json& kubeletFields() {
    static const json fields = loadFixture("kubelet-config-fields.json").at("fields");
    return fields;
}

bool isPlain(const YAML::Node& node) {
    return node.Tag() == "?";
}

// What go-yaml (YAML 1.1) resolves a plain scalar to, when not a string.
bool plainIsNotString(const std::string& value) {
    static const std::regex other(
        "|~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|"
        "OFF|"
        "[-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+|[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]"
        "+)?|"
        "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
    return std::regex_match(value, other);
}

// A leaf's value: `type` is the field map's name for it.
std::string leafProblem(const YAML::Node& node, const std::string& type) {
    if (!node.IsScalar()) {
        return "must be a scalar (" + type + ")";
    }
    const auto value = node.Scalar();
    auto matches = [&](const char* pattern) { return std::regex_match(value, std::regex(pattern)); };
    if (type == "bool") {
        return isPlain(node) && (value == "true" || value == "false") ? "" : "must be a plain true or false";
    }
    if (type == "int" || type == "int32") {
        return isPlain(node) && matches("-?(0|[1-9][0-9]{0,9})") ? "" : "must be a plain integer";
    }
    if (isPlain(node) && plainIsNotString(value)) {
        return "reads as a bool, number or null, not a string (" + type + ")";
    }
    if (type == "duration" && !matches("0|([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+")) {
        return "must be a Go duration like 4m0s";
    }
    if (type == "time" &&
        !matches(
            "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})")) {
        return "must be an RFC 3339 time";
    }
    if (type == "bootstrapTokenString" && !matches("[a-z0-9]{6}\\.[a-z0-9]{16}")) {
        return "must be a bootstrap token";
    }
    return "";
}

class Checker {
  public:
    explicit Checker(std::vector<std::string>& problems) : problems_(problems) {}

    void check(const YAML::Node& node, const json& schema, const std::string& path) {
        if (schema.is_string()) {
            if (auto problem = leafProblem(node, schema.get<std::string>()); !problem.empty()) {
                report(path, problem);
            }
        } else if (schema.contains("_list")) {
            if (!node.IsSequence()) {
                report(path, "must be a list");
                return;
            }
            for (std::size_t i = 0; i < node.size(); ++i) {
                check(node[i], schema["_list"], path + "[" + std::to_string(i) + "]");
            }
        } else if (schema.contains("_map")) {
            if (!node.IsMap()) {
                report(path, "must be a map");
                return;
            }
            for (const auto& entry : keys(node, path)) {
                check(node[entry], schema["_map"], path + "." + entry);
            }
        } else {
            checkStruct(node, schema, path);
        }
    }

    void checkStruct(const YAML::Node& node, const json& schema, const std::string& path) {
        if (!node.IsMap()) {
            report(path, "must be a map of fields");
            return;
        }
        for (const auto& key : keys(node, path)) {
            auto where = path.empty() ? key : path + "." + key;
            if (key.starts_with("_") || !schema.contains(key)) {
                report(where, "unknown field");
            } else {
                check(node[key], schema[key], where);
            }
        }
    }

    // The map's keys; duplicates and non-scalar keys reported.
    std::vector<std::string> keys(const YAML::Node& node, const std::string& path) {
        std::vector<std::string> out;
        std::set<std::string> seen;
        for (const auto& entry : node) {
            if (!entry.first.IsScalar()) {
                report(path, "has a key that is not a scalar");
                continue;
            }
            auto key = entry.first.Scalar();
            if (!seen.insert(key).second) {
                report(path + "." + key, "duplicate field");
                continue;
            }
            out.push_back(key);
        }
        return out;
    }

    void report(const std::string& path, const std::string& problem) {
        problems_.push_back(prefix_ + path + ": " + problem);
    }
    void setPrefix(std::string prefix) { prefix_ = std::move(prefix); }

  private:
    std::vector<std::string>& problems_;
    std::string prefix_;
};

KubernetesVersion version(unsigned minor) {
    return {1, minor, 0};
}

// Which kubeadm API versions a release reads without --allow-experimental-api.
bool readsApi(const std::string& apiVersion, const KubernetesVersion& release) {
    if (apiVersion == "kubeadm.k8s.io/v1beta3") {
        return release >= version(22) && release < version(37);
    }
    return release >= version(31);
}

void checkKubelet(Checker& checker, const YAML::Node& doc, const KubernetesVersion& release) {
    const auto& fields = kubeletFields();
    for (const auto& key : checker.keys(doc, "")) {
        if (key == "apiVersion" || key == "kind") {
            continue;
        }
        if (!fields.contains(key)) {
            checker.report(key, "unknown field");
            continue;
        }
        const auto& field = fields[key];
        if (field["since"].is_string()) {
            auto since = field["since"].get<std::string>();
            if (release < version(static_cast<unsigned>(std::stoi(since.substr(2))))) {
                checker.report(key, "is not a field before " + since);
            }
        }
        auto kind = field["kind"].get<std::string>();
        bool ok = kind == "map"    ? doc[key].IsMap()
                  : kind == "list" ? doc[key].IsSequence()
                                   : doc[key].IsScalar();
        if (!ok) {
            checker.report(key, "must be a " + kind);
        }
    }
}

}  // namespace

KubeadmFieldCheck checkKubeadmFields(const std::string& yaml, const KubernetesVersion& release) {
    KubeadmFieldCheck result;
    Checker checker(result.problems);
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(yaml);
    } catch (const YAML::Exception& e) {
        result.problems.push_back(std::string("not YAML: ") + e.what());
        return result;
    }
    for (std::size_t i = 0; i < docs.size(); ++i) {
        const auto& doc = docs[i];
        auto apiVersion = doc.IsMap() && doc["apiVersion"].IsScalar() ? doc["apiVersion"].Scalar() : "";
        auto kind = doc.IsMap() && doc["kind"].IsScalar() ? doc["kind"].Scalar() : "";
        result.kinds.push_back(kind);
        checker.setPrefix("doc " + std::to_string(i + 1) + " (" + kind + ") ");
        if (apiVersion == "kubelet.config.k8s.io/v1beta1" && kind == "KubeletConfiguration") {
            checkKubelet(checker, doc, release);
            continue;
        }
        if (apiVersion != "kubeadm.k8s.io/v1beta3" && apiVersion != "kubeadm.k8s.io/v1beta4") {
            checker.report("apiVersion", "unknown API version \"" + apiVersion + "\"");
            continue;
        }
        if (!readsApi(apiVersion, release)) {
            checker.report("apiVersion", apiVersion + " is not read by kubeadm " + release.text());
        }
        const auto& schema = schemaOf(apiVersion);
        if (kind.empty() || kind.starts_with("_") || !schema.contains(kind)) {
            checker.report("kind", "unknown kind in " + apiVersion);
            continue;
        }
        checker.checkStruct(doc, schema[kind], "");
    }
    return result;
}

}  // namespace gpuhost::test

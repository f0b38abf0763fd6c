#include "node_states.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <optional>

namespace gpuhost::slurm {

// How Slurm's node states become the API's `states` (base first, then flags):
//
//   Slurm (22.05 `state` + `state_flags`, or 23.x `state` array)  →  states
//   idle                                                           →  IDLE
//   allocated / alloc                                              →  ALLOCATED
//   mixed                                                          →  MIXED
//   down / error / future                                          →  DOWN / ERROR / FUTURE
//   unknown, invalid, missing                                      →  UNKNOWN
//   another word: a base state found among the flags, else UNKNOWN; the word stays as a flag
//   flag DRAIN (also DRAINED, DRAINING)                            →  DRAIN
//   flag NOT_RESPONDING (also NO_RESPOND)                          →  NOT_RESPONDING
//   flag MAINTENANCE (also MAINT)                                  →  MAINTENANCE
//   flag RESERVED, COMPLETING, FAIL, PLANNED, REBOOT_*, POWER*_,
//        CLOUD, DYNAMIC_*, INVALID_REG, RESUME                     →  the same word
//
// So `idle`+[DRAIN] is drained (["IDLE","DRAIN"]) and `mixed`+[DRAIN] is draining
// (["MIXED","DRAIN"]): whether jobs still run is in the base state, as in Slurm itself.
// The flags are not interpreted further: callers ask hasState("DRAIN") and the like.

namespace {

using nlohmann::json;

struct Alias {
    std::string_view from;
    std::string_view to;
};

constexpr std::array<Alias, 5> kBaseAliases{{
    {"ALLOC", "ALLOCATED"},
    {"INVALID", "UNKNOWN"},
    {"END", "UNKNOWN"},
    {"DRAINED", "IDLE"},  // older text forms folded into the base; the flag is added below
    {"DRAINING", "MIXED"},
}};

constexpr std::array<Alias, 5> kFlagAliases{{
    {"MAINT", "MAINTENANCE"},
    {"NO_RESPOND", "NOT_RESPONDING"},
    {"DRAINED", "DRAIN"},
    {"DRAINING", "DRAIN"},
    {"RESV", "RESERVED"},
}};

constexpr std::size_t kMaxInput = 64 << 20;  // ~40,000 nodes of 22.05 output

std::string upper(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
    return out;
}

bool looksLikeFlag(std::string_view word) {
    return !word.empty() && word.size() <= 32 && std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
}

std::string fold(std::string word, const std::array<Alias, 5>& aliases) {
    for (const auto& alias : aliases) {
        if (word == alias.from) {
            return std::string(alias.to);
        }
    }
    return word;
}

bool isBaseState(std::string_view word) {
    return std::find(std::begin(kBaseStates), std::end(kBaseStates), word) != std::end(kBaseStates);
}

// Reads fields of one node, noting each one of the wrong type instead of failing the whole report.
class NodeReader {
  public:
    NodeReader(const json& node, std::string where, std::vector<std::string>& warnings)
        : node_(node), where_(std::move(where)), warnings_(warnings) {}

    std::string string(const char* key) {
        auto it = node_.find(key);
        if (it == node_.end() || it->is_null()) {
            return {};
        }
        if (!it->is_string()) {
            wrongType(key);
            return {};
        }
        return it->get<std::string>();
    }

    // 22.05 prints integers; 24.x wraps some as {"set": bool, "infinite": bool, "number": N}.
    std::int64_t integer(const char* key) {
        auto it = node_.find(key);
        if (it == node_.end() || it->is_null()) {
            return 0;
        }
        const json* value = &*it;
        if (value->is_object()) {
            auto number = value->find("number");
            if (number == value->end()) {
                wrongType(key);
                return 0;
            }
            value = &*number;
        }
        if (!value->is_number_integer()) {
            wrongType(key);
            return 0;
        }
        return value->get<std::int64_t>();
    }

    // A string array; non-string items are dropped. A plain string is split on ',' (sinfo's text
    // forms, and what some versions print for partitions).
    std::vector<std::string> strings(const char* key) {
        std::vector<std::string> out;
        auto it = node_.find(key);
        if (it == node_.end() || it->is_null()) {
            return out;
        }
        if (it->is_string()) {
            std::string_view text = it->get_ref<const std::string&>();
            while (!text.empty()) {
                auto comma = text.find(',');
                if (auto item = text.substr(0, comma); !item.empty()) {
                    out.emplace_back(item);
                }
                text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
            }
            return out;
        }
        if (!it->is_array()) {
            wrongType(key);
            return out;
        }
        for (const auto& item : *it) {
            if (item.is_string()) {
                out.push_back(item.get<std::string>());
            } else {
                wrongType(key);
            }
        }
        return out;
    }

  private:
    void wrongType(const char* key) {
        warnings_.push_back(where_ + ": ignored " + key + " of an unexpected type");
    }

    const json& node_;
    std::string where_;
    std::vector<std::string>& warnings_;
};

std::optional<SlurmNode> readNode(const json& item, std::size_t index, std::vector<std::string>& warnings) {
    std::string where = "nodes[" + std::to_string(index) + "]";
    if (!item.is_object()) {
        warnings.push_back(where + ": skipped, not an object");
        return std::nullopt;
    }
    auto name = item.find("name");
    if (name == item.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
        warnings.push_back(where + ": skipped, no name");
        return std::nullopt;
    }
    SlurmNode node;
    node.name = name->get<std::string>();
    NodeReader read(item, where + " (" + node.name + ")", warnings);
    // 22.05: "state": "idle", "state_flags": ["DRAIN"]. 23.x: "state": ["IDLE", "DRAIN"].
    std::vector<std::string> state = read.strings("state");
    std::vector<std::string> flags = read.strings("state_flags");
    std::string base;
    if (!state.empty()) {
        base = state.front();
        flags.insert(flags.begin(), state.begin() + 1, state.end());
    }
    node.states = mapNodeStates(base, flags);
    node.slurmdVersion = read.string("slurmd_version");
    if (node.slurmdVersion.empty()) {
        node.slurmdVersion = read.string("version");  // 23.x
    }
    node.address = read.string("address");
    node.hostname = read.string("hostname");
    node.partitions = read.strings("partitions");
    node.reason = read.string("reason");
    node.gres = read.string("gres");
    node.gresUsed = read.string("gres_used");
    node.cpus = read.integer("cpus");
    node.allocCpus = read.integer("alloc_cpus");
    node.realMemoryMiB = read.integer("real_memory");
    node.allocMemoryMiB = read.integer("alloc_memory");
    return node;
}

// meta.Slurm.release (22.05) or meta.slurm.release (23.x).
std::string releaseOf(const json& document) {
    auto meta = document.find("meta");
    if (meta == document.end() || !meta->is_object()) {
        return {};
    }
    for (const char* key : {"Slurm", "slurm"}) {
        auto slurm = meta->find(key);
        if (slurm != meta->end() && slurm->is_object()) {
            auto release = slurm->find("release");
            if (release != slurm->end() && release->is_string()) {
                return release->get<std::string>();
            }
        }
    }
    return {};
}

// The first message of the document's `errors` array: "error" (22.05) or "description" (23.x).
std::string firstError(const json& document) {
    auto errors = document.find("errors");
    if (errors == document.end() || !errors->is_array() || errors->empty()) {
        return {};
    }
    const json& first = errors->front();
    for (const char* key : {"description", "error"}) {
        if (first.is_object() && first.contains(key) && first[key].is_string() && !first[key].empty()) {
            return first[key].get<std::string>();
        }
    }
    return first.is_string() ? first.get<std::string>() : "an error without a message";
}

}  // namespace

bool SlurmNode::hasState(std::string_view state) const {
    return std::find(states.begin(), states.end(), state) != states.end();
}

std::vector<std::string> mapNodeStates(std::string_view base, const std::vector<std::string>& flags) {
    std::string raw = upper(base);
    std::string mapped = fold(raw, kBaseAliases);
    std::vector<std::string> all = flags;
    if (raw == "DRAINED" || raw == "DRAINING") {
        all.insert(all.begin(), "DRAIN");
    } else if (!isBaseState(mapped)) {
        // Not a base state: keep the word as a flag and take the base from the flags when one of
        // them is one (a 23.x array in another order), else UNKNOWN.
        all.insert(all.begin(), raw);
        auto found = std::find_if(all.begin(), all.end(), [](const std::string& word) {
            return isBaseState(fold(upper(word), kBaseAliases));
        });
        mapped = found == all.end() ? std::string("UNKNOWN") : fold(upper(*found), kBaseAliases);
    }
    std::vector<std::string> states{mapped};
    for (const auto& flag : all) {
        std::string word = fold(upper(flag), kFlagAliases);
        if (looksLikeFlag(word) && !isBaseState(fold(word, kBaseAliases)) &&
            std::find(states.begin(), states.end(), word) == states.end()) {
            states.push_back(std::move(word));
        }
    }
    return states;
}

model::Result<SinfoReport> parseSinfoJson(std::string_view text) {
    if (text.size() > kMaxInput) {
        return model::Error::internal("sinfo --json: output larger than 64 MiB");
    }
    json document = json::parse(text.begin(), text.end(), nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return model::Error::internal("sinfo --json: output is not a JSON object");
    }
    auto nodes = document.find("nodes");
    if (nodes == document.end() || !nodes->is_array()) {
        std::string error = firstError(document);
        return model::Error::internal(
            "sinfo --json: " + (error.empty() ? std::string("no nodes array") : "slurm says: " + error));
    }
    SinfoReport report;
    report.slurmVersion = releaseOf(document);
    for (std::size_t i = 0; i < nodes->size(); ++i) {
        if (auto node = readNode((*nodes)[i], i, report.warnings)) {
            report.nodes.push_back(std::move(*node));
        }
    }
    return report;
}

}  // namespace gpuhost::slurm

// The text half of node_states.hpp: `scontrol show res -o`, `scontrol show node -o`, hostlists.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "node_states.hpp"

namespace gpuhost::slurm {

namespace {

constexpr std::size_t kMaxHosts = 65536;
constexpr std::size_t kMaxItem = 512;  // bounds the recursion: one level per bracket group
constexpr std::string_view kNoReservations = "No reservations in the system";
constexpr std::string_view kNoNodes = "No nodes in the system";

model::Error bad(std::string_view what, std::string_view subject) {
    return model::Error::internal(std::string(what) + ": " + std::string(subject.substr(0, 200)));
}

std::vector<std::string_view> splitTopLevel(std::string_view text) {
    std::vector<std::string_view> items;
    int depth = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || (text[i] == ',' && depth == 0)) {
            items.push_back(text.substr(start, i - start));
            start = i + 1;
        } else if (text[i] == '[') {
            ++depth;
        } else if (text[i] == ']') {
            --depth;
        }
    }
    return items;
}

bool parseNumber(std::string_view digits, unsigned long& out) {
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return true;
}

// Expands one item that may hold several bracket groups ("r[1-2]n[01-02]"), first group first.
model::Result<void> expandItem(std::string_view item, std::vector<std::string>& out) {
    if (item.size() > kMaxItem) {
        return bad("hostlist: name longer than 512 characters", item);
    }
    auto open = item.find('[');
    if (open == std::string_view::npos) {
        if (item.find(']') != std::string_view::npos || item.empty()) {
            return bad("hostlist: malformed item", item);
        }
        if (out.size() >= kMaxHosts) {
            return bad("hostlist: more than 65536 names", item);
        }
        out.emplace_back(item);
        return {};
    }
    auto close = item.find(']', open);
    if (close == std::string_view::npos ||
        item.substr(open + 1, close - open - 1).find('[') != std::string_view::npos) {
        return bad("hostlist: unbalanced brackets", item);
    }
    std::string_view prefix = item.substr(0, open);
    std::string_view ranges = item.substr(open + 1, close - open - 1);
    std::string_view suffix = item.substr(close + 1);
    for (std::string_view range : splitTopLevel(ranges)) {
        auto dash = range.find('-');
        std::string_view low = range.substr(0, dash);
        std::string_view high = dash == std::string_view::npos ? low : range.substr(dash + 1);
        unsigned long from = 0;
        unsigned long to = 0;
        if (!parseNumber(low, from) || !parseNumber(high, to) || to < from || to - from >= kMaxHosts) {
            return bad("hostlist: bad range", range);
        }
        for (unsigned long n = from; n <= to; ++n) {
            std::string number = std::to_string(n);
            if (number.size() < low.size()) {  // "[01-10]" keeps the width of its lower bound
                number.insert(0, low.size() - number.size(), '0');
            }
            std::string name = std::string(prefix) + number + std::string(suffix);
            if (auto expanded = expandItem(name, out); !expanded) {
                return expanded;
            }
        }
    }
    return {};
}

// Free text that scontrol prints last on a line, unquoted: it may hold spaces and '=' ("xid 79 on
// bus=0000:3b:00.0"), so it takes the rest of the line.
bool takesRestOfLine(std::string_view key) {
    return key == "Reason" || key == "Comment";
}

// Splits one -o line into Key=Value pairs; a token without '=' continues the previous value.
std::vector<std::pair<std::string, std::string>> splitFields(std::string_view line) {
    std::vector<std::pair<std::string, std::string>> fields;
    while (!line.empty()) {
        auto space = line.find(' ');
        std::string_view token = line.substr(0, space);
        line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
        if (token.empty()) {
            continue;
        }
        auto equals = token.find('=');
        bool isKey =
            equals != std::string_view::npos && equals > 0 &&
            std::all_of(token.begin(), token.begin() + static_cast<std::ptrdiff_t>(equals),
                        [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
        if (isKey && takesRestOfLine(token.substr(0, equals))) {
            std::string rest(token.substr(equals + 1));
            rest += line.empty() ? "" : " " + std::string(line);
            fields.emplace_back(std::string(token.substr(0, equals)), std::move(rest));
            break;
        }
        if (isKey) {
            fields.emplace_back(std::string(token.substr(0, equals)), std::string(token.substr(equals + 1)));
        } else if (!fields.empty()) {
            fields.back().second += " " + std::string(token);
        }
    }
    return fields;
}

model::Result<SlurmReservation> parseLine(std::string_view line) {
    SlurmReservation reservation;
    for (auto& [key, value] : splitFields(line)) {
        if (key == "ReservationName") {
            reservation.name = value;
        } else if (key == "Nodes") {
            auto nodes = expandHostlist(value);
            if (!nodes) {
                return nodes.error();
            }
            reservation.nodes = std::move(*nodes);
        } else if (key == "State") {
            reservation.state = value;
        } else if (key == "Flags" && value != "(null)") {
            for (std::string_view flag : splitTopLevel(value)) {
                if (!flag.empty()) {
                    reservation.flags.emplace_back(flag);
                }
            }
        }
    }
    if (reservation.name.empty()) {
        return bad("scontrol show res: reservation without a name", line);
    }
    return reservation;
}

std::int64_t integerOr0(const std::string& value) {
    std::int64_t out = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
    return error == std::errc{} && end == value.data() + value.size() ? out : 0;
}

std::string nullToEmpty(std::string value) {
    return value == "(null)" || value == "N/A" ? std::string{} : value;
}

// scontrol appends who set the reason and when ("test [root@2026-11-27T11:38:05]"); sinfo --json
// has those in fields of their own, so the text form drops them to match it.
std::string reasonText(std::string value) {
    if (value.ends_with(']')) {
        auto open = value.rfind(" [");
        if (open != std::string::npos && value.find('@', open) != std::string::npos) {
            value.resize(open);
        }
    }
    return nullToEmpty(std::move(value));
}

std::vector<std::string> splitOn(std::string_view text, char separator) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto at = text.find(separator);
        if (auto item = text.substr(0, at); !item.empty()) {
            out.emplace_back(item);
        }
        text = at == std::string_view::npos ? std::string_view{} : text.substr(at + 1);
    }
    return out;
}

SlurmNode parseNodeLine(std::string_view line) {
    SlurmNode node;
    std::string state;
    for (auto& [key, value] : splitFields(line)) {
        if (key == "NodeName") {
            node.name = value;
        } else if (key == "State") {
            state = value;
        } else if (key == "Version") {
            node.slurmdVersion = nullToEmpty(value);
        } else if (key == "NodeAddr") {
            node.address = value;
        } else if (key == "NodeHostName") {
            node.hostname = value;
        } else if (key == "Partitions") {
            node.partitions = splitOn(nullToEmpty(value), ',');
        } else if (key == "Reason") {
            node.reason = reasonText(value);
        } else if (key == "Gres") {
            node.gres = nullToEmpty(value);
        } else if (key == "CPUTot") {
            node.cpus = integerOr0(value);
        } else if (key == "CPUAlloc") {
            node.allocCpus = integerOr0(value);
        } else if (key == "RealMemory") {
            node.realMemoryMiB = integerOr0(value);
        } else if (key == "AllocMem") {
            node.allocMemoryMiB = integerOr0(value);
        }
    }
    // "MIXED+DRAIN", "IDLE*" (the '*' is scontrol's mark for not responding).
    std::vector<std::string> words = splitOn(state, '+');
    std::string base = words.empty() ? std::string{} : words.front();
    if (base.ends_with('*')) {
        base.pop_back();
        words.push_back("NOT_RESPONDING");
    }
    node.states =
        mapNodeStates(base, words.empty() ? words : std::vector<std::string>(words.begin() + 1, words.end()));
    return node;
}

// Calls `each` for each non-empty line that is not scontrol's "nothing here" message.
template <class Each>
model::Result<void> forEachLine(std::string_view text, std::string_view empty, std::string_view start,
                                Each each) {
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
            line.remove_suffix(1);
        }
        if (line.empty() || line.starts_with(empty)) {
            continue;
        }
        if (!line.starts_with(start)) {
            return bad("scontrol: unexpected output", line);
        }
        if (auto done = each(line); !done) {
            return done;
        }
    }
    return {};
}

}  // namespace

model::Result<std::vector<std::string>> expandHostlist(std::string_view expression) {
    std::vector<std::string> hosts;
    if (expression.empty() || expression == "(null)") {
        return hosts;
    }
    for (std::string_view item : splitTopLevel(expression)) {
        if (auto expanded = expandItem(item, hosts); !expanded) {
            return expanded.error();
        }
    }
    return hosts;
}

model::Result<std::vector<SlurmReservation>> parseReservations(std::string_view text) {
    std::vector<SlurmReservation> reservations;
    auto done = forEachLine(text, kNoReservations,
                            "ReservationName=", [&](std::string_view line) -> model::Result<void> {
                                auto reservation = parseLine(line);
                                if (!reservation) {
                                    return reservation.error();
                                }
                                reservations.push_back(std::move(*reservation));
                                return {};
                            });
    if (!done) {
        return done.error();
    }
    return reservations;
}

model::Result<std::vector<SlurmNode>> parseScontrolNodes(std::string_view text) {
    std::vector<SlurmNode> nodes;
    auto done = forEachLine(text, kNoNodes, "NodeName=", [&](std::string_view line) -> model::Result<void> {
        nodes.push_back(parseNodeLine(line));
        if (nodes.back().name.empty()) {
            return bad("scontrol show node: node without a name", line);
        }
        return {};
    });
    if (!done) {
        return done.error();
    }
    return nodes;
}

std::map<std::string, std::vector<std::string>> reservationsByNode(
    const std::vector<SlurmReservation>& reservations) {
    std::map<std::string, std::vector<std::string>> byNode;
    for (const auto& reservation : reservations) {
        if (reservation.state != "ACTIVE") {
            continue;
        }
        for (const auto& node : reservation.nodes) {
            byNode[node].push_back(reservation.name);
        }
    }
    return byNode;
}

}  // namespace gpuhost::slurm

#pragma once

// Slurm's view of its nodes, parsed from what the controller VM prints: `sinfo --json` (Slurm 22.05,
// OpenAPI v0.0.38; the 23.x+ shapes where they cost a line), `scontrol show node -o` and
// `scontrol show res -o`. Pure: the
// text comes from the guest agent, so it is untrusted; nothing here throws or crashes on it.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::slurm {

/// One node as the API reports it (the seed's node object, less what comes from our VMs).
struct SlurmNode {
    std::string name;
    /// Base state first, then flags; see mapNodeStates and the table in node_states.cpp.
    std::vector<std::string> states;
    std::string slurmdVersion;
    std::string address;   // NodeAddr
    std::string hostname;  // NodeHostName
    std::vector<std::string> partitions;
    std::string reason;    // empty when none
    std::string gres;      // e.g. "gpu:h100:8"; empty when none
    std::string gresUsed;  // e.g. "gpu:h100:1(IDX:0)"
    std::int64_t cpus = 0;
    std::int64_t allocCpus = 0;
    std::int64_t realMemoryMiB = 0;
    std::int64_t allocMemoryMiB = 0;

    bool hasState(std::string_view state) const;
};

struct SinfoReport {
    std::string slurmVersion;  // meta's release, e.g. "22.05.8"; empty when absent
    std::vector<SlurmNode> nodes;
    /// Nodes left out (not an object, no name) and fields ignored for a wrong type, each as
    /// "nodes[3]: ..." for the log; a report with warnings is still usable.
    std::vector<std::string> warnings;
};

/// The base states, uppercase; `state` values outside them become "UNKNOWN".
inline constexpr std::string_view kBaseStates[] = {"IDLE",  "ALLOCATED", "MIXED",  "DOWN",
                                                   "ERROR", "FUTURE",    "UNKNOWN"};

/// Maps Slurm's base state and flags to our vocabulary: the base state uppercased (aliases folded;
/// a word that is no base state is kept as a flag and the base taken from the flags, else
/// "UNKNOWN") first, then each flag once, uppercased, aliases folded ("MAINT" →
/// "MAINTENANCE", "NO_RESPOND" → "NOT_RESPONDING", "DRAINED"/"DRAINING" → "DRAIN"); flags
/// we do not know pass through uppercased when they look like flags ([A-Z0-9_]{1,32}), others drop.
std::vector<std::string> mapNodeStates(std::string_view base, const std::vector<std::string>& flags);

/// Parses `sinfo --json`. An Internal error when the text is not a JSON object with a `nodes` array
/// (Slurm's own `errors` message is quoted when it sent one); a node without a string `name` is
/// skipped and a field of the wrong type is read as absent, both with a warning. Accepts `state`
/// as a string (22.05) or an array of strings (23.x, where flags share the array), and numbers as
/// plain integers or 24.x's {"set":true,"number":N} objects.
model::Result<SinfoReport> parseSinfoJson(std::string_view text);

struct SlurmReservation {
    std::string name;
    std::vector<std::string> nodes;  // hostlist expanded
    std::string state;               // "ACTIVE" or "INACTIVE"
    std::vector<std::string> flags;  // e.g. "MAINT", "SPEC_NODES"
};

/// Parses `scontrol show res -o` (one reservation per line of Key=Value pairs; a value may hold
/// spaces, as a token without '=' continues the previous value). "No reservations in the system"
/// is an empty list; any other line that does not start with ReservationName= is an Internal error
/// (it is scontrol reporting a failure, e.g. that it cannot reach slurmctld).
model::Result<std::vector<SlurmReservation>> parseReservations(std::string_view text);

/// Parses `scontrol show node -o` (one node per line), the fallback where `sinfo --json` is missing:
/// `State=MIXED+DRAIN` maps like the JSON (a trailing '*' is NOT_RESPONDING), "(null)" and "N/A"
/// read as empty, Reason (like a reservation's Comment) takes the rest of the line, as it may hold
/// spaces and '=', less scontrol's " [user@time]" suffix. A line that does not start with
/// NodeName= is an Internal error, as for reservations.
model::Result<std::vector<SlurmNode>> parseScontrolNodes(std::string_view text);

/// Expands a Slurm hostlist ("gpu[01-03,07],cpu-a[1-2]-x,login") in order; (null) and "" are
/// empty. Refuses unbalanced brackets, bad ranges and lists over 65536 names.
model::Result<std::vector<std::string>> expandHostlist(std::string_view expression);

/// Reservation names per node, from ACTIVE reservations only (an INACTIVE one has not started and
/// does not hold its nodes yet), in the order scontrol listed them.
std::map<std::string, std::vector<std::string>> reservationsByNode(
    const std::vector<SlurmReservation>& reservations);

}  // namespace gpuhost::slurm

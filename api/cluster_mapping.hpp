#pragma once

// What the Slurm and Kubernetes mappings share (api/cluster_mapping.cpp): strict readers of
// body members that name the field of an error, node pools, and the JSON of a node's VM.
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "model/cluster.hpp"
#include "model/error.hpp"

namespace gpuhost::api {

/// The most nodes one pool may ask for as far as parsing goes; the service applies the
/// configured limits (and capacity) below it.
inline constexpr unsigned kMaxParsedPoolCount = 1024;

namespace fields {

/// "prefix.key", or "key" without a prefix.
std::string join(const std::string& prefix, std::string_view key);
/// "field[i]".
std::string indexed(std::string_view field, std::size_t i);
/// The member `key` when present and not null (null means "not given", as elsewhere).
const nlohmann::json* find(const nlohmann::json& body, std::string_view key);
/// InvalidArgument naming the first member of `body` not in `known` (under `prefix`).
model::Result<void> rejectUnknown(const nlohmann::json& body, const std::set<std::string_view>& known,
                                  const std::string& prefix);
/// A non-empty string member into `out`; absent is an error only when `required`.
model::Result<void> readString(const nlohmann::json& body, std::string_view key, const std::string& field,
                               std::string& out, bool required);
/// A count: a JSON integer in [0, max] (2.0, -1, 1e9 and "3" are refused); null: absent.
model::Result<unsigned> readCount(const nlohmann::json* value, const std::string& field, unsigned max);
/// An optional list of strings (absent: empty) of at most `maxItems`, counted before any is
/// copied, so a 1 MiB list costs one size check rather than a copy of every item.
model::Result<std::vector<std::string>> readStrings(const nlohmann::json& body, std::string_view key,
                                                    const std::string& field, std::size_t maxItems);

}  // namespace fields

/// Which members a node pool body has besides name, type and count.
enum class PoolMembers { Plain, WithPartitions };

/// One node pool `{name, type, count[, partitions]}`. `prefix` is where the pool sits in the
/// body ("nodePools[2]", "defaultNodePool"), or "" for a body that is one pool; errors name
/// the field under it.
model::Result<model::ClusterPool> parsePool(const nlohmann::json& body, const std::string& prefix,
                                            PoolMembers members);
/// PATCH .../node-pools/{pool} body: `{count}`.
model::Result<unsigned> parsePoolScale(const nlohmann::json& body);

/// The text, or null when absent / empty.
nlohmann::json optionalText(const std::optional<std::string>& text);
nlohmann::json nonEmpty(const std::string& text);
/// A node's VM id, or null before it has one.
nlohmann::json instanceIdJson(const model::Uuid& id);
/// `{type, details}` (the ClusterStatus schema).
nlohmann::json clusterStatusJson(const model::ClusterStatus& status);

}  // namespace gpuhost::api

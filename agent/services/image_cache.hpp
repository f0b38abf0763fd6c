#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "blocking_pool.hpp"
#include "config.hpp"
#include "services/host_registry.hpp"
#include "storage.hpp"
#include "store/store.hpp"

namespace gpuhost::agent {

/// The base-image volume name for `image`: changes when the operator replaces the image
/// file (its path, size and mtime, hashed with SHA-256), so a new base is imported and
/// overlays made from the old one keep theirs.
std::string baseVolumeName(const ImageConfig& image);
/// Whether a volume name is one baseVolumeName made (today's or an earlier release's).
bool isBaseVolumeName(std::string_view name);

/// Base images imported once per host and image, then shared by every root overlay on
/// that host. Imports of one image on one host are serialized; other images and hosts
/// proceed meanwhile. The store marks an import complete only after the upload finished
/// (store calls on the store pool, host calls on the host's pool), so a volume a crash
/// left half-written is imported again.
class ImageCache {
  public:
    /// `executor` owns the gates that serialize imports (they outlive any one caller).
    ImageCache(AgentMetadataStore& metadata, BlockingPool& storePool, const HostRegistry& hosts,
               boost::asio::any_io_executor executor)
        : metadata_(metadata), storePool_(storePool), hosts_(hosts), executor_(std::move(executor)) {}

    /// The host's base volume for `image`, importing it first if needed.
    boost::asio::awaitable<model::Result<drivers::Volume>> baseVolume(std::size_t host, ImageConfig image);

    /// Removes base volumes of the host that no configured image names now and no overlay
    /// uses (left by an image the operator replaced, or by an earlier release's naming).
    /// Blocking: on the host's pool, with `volumes` just listed there.
    std::vector<std::string> sweepBlocking(std::size_t host, const std::vector<drivers::Volume>& volumes,
                                           const std::vector<ImageConfig>& images);
    /// Forgets the marks of swept volumes (on the store pool).
    boost::asio::awaitable<model::Result<void>> forget(std::size_t host, std::vector<std::string> swept);

  private:
    using Gate = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;
    std::shared_ptr<Gate> gateFor(const std::string& mark);
    std::string markFor(std::size_t host, const std::string& volume) const;

    AgentMetadataStore& metadata_;
    BlockingPool& storePool_;
    const HostRegistry& hosts_;
    boost::asio::any_io_executor executor_;
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<Gate>> gates_;  // one per host and image: an import at a time
};

}  // namespace gpuhost::agent

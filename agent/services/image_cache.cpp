// ImageCache: base images per host, imported once, swept when nothing uses them.
#include "services/image_cache.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "log.hpp"

namespace gpuhost::agent {

namespace asio = boost::asio;
using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

constexpr std::string_view kBasePrefix = "image-";
constexpr std::string_view kBaseSuffix = ".img";

std::string sha256Hex(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += kHex[digest[i] >> 4];
        hex += kHex[digest[i] & 0xf];
    }
    return hex;
}

}  // namespace

std::string baseVolumeName(const ImageConfig& image) {
    struct stat info {};
    ::stat(image.path.c_str(), &info);
    // SHA-256, not std::hash: the name must not change when the standard library does, or
    // an upgrade would import every image again and never sweep the old bases.
    auto fingerprint =
        sha256Hex(image.path.string() + ":" + std::to_string(info.st_size) + ":" +
                  std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec));
    return std::string(kBasePrefix) + image.name + "-" + fingerprint.substr(0, 24) + std::string(kBaseSuffix);
}

bool isBaseVolumeName(std::string_view name) {
    return name.starts_with(kBasePrefix) && name.ends_with(kBaseSuffix);
}

std::string ImageCache::markFor(std::size_t host, const std::string& volume) const {
    return hosts_.binding(host).name + "/" + volume;
}

std::shared_ptr<ImageCache::Gate> ImageCache::gateFor(const std::string& mark) {
    std::lock_guard lock(mutex_);
    auto& gate = gates_[mark];
    if (!gate) {
        gate = std::make_shared<Gate>(executor_, 1);
    }
    return gate;
}

asio::awaitable<Result<drivers::Volume>> ImageCache::baseVolume(std::size_t host, ImageConfig image) {
    const auto& binding = hosts_.binding(host);
    auto name = baseVolumeName(image);
    auto mark = markFor(host, name);
    // One import per host and image at a time: a second create waits for the first's
    // import rather than finding a half-written volume (or importing it twice).
    auto gate = gateFor(mark);
    boost::system::error_code ec;
    co_await gate->async_send(boost::system::error_code{}, asio::redirect_error(asio::use_awaitable, ec));
    struct Release {
        std::shared_ptr<Gate> gate;
        ~Release() {
            gate->try_receive([](boost::system::error_code) {});
        }
    } release{gate};

    auto ask = [this, mark] { return metadata_.imageImported(mark); };
    auto complete = co_await storePool_.run(std::move(ask));
    if (!complete) {
        co_return complete.error();
    }
    struct Outcome {
        drivers::Volume volume;
        bool imported = false;
    };
    auto import = [storage = binding.storage, name, image, complete = *complete,
                   host = binding.name]() -> Result<Outcome> {
        auto existing = storage->volume(name);
        if (existing && complete) {
            return Outcome{*existing, false};
        }
        if (!existing && existing.error().code != ErrorCode::NotFound) {
            return existing.error();
        }
        if (existing) {
            log::warn("re-importing an image whose import did not finish",
                      {{"volume", name}, {"host", host}});
            if (auto removed = storage->deleteVolume(name); !removed) {
                return removed.error();
            }
        }
        log::info("importing image", {{"image", image.name}, {"volume", name}, {"host", host}});
        auto imported = storage->importFile(name, image.path);
        if (!imported) {
            return imported.error();
        }
        return Outcome{*imported, true};
    };
    auto outcome = co_await binding.pool->run(std::move(import));
    if (!outcome) {
        co_return outcome.error();
    }
    if (outcome->imported) {
        auto record = [this, mark] { return metadata_.markImageImported(mark); };
        if (auto marked = co_await storePool_.run(std::move(record)); !marked) {
            co_return marked.error();
        }
    }
    co_return outcome->volume;
}

std::vector<std::string> ImageCache::sweepBlocking(std::size_t host,
                                                   const std::vector<drivers::Volume>& volumes,
                                                   const std::vector<ImageConfig>& images) {
    std::set<std::string> wanted, backing;
    for (const auto& image : images) {
        wanted.insert(baseVolumeName(image));
    }
    for (const auto& volume : volumes) {
        if (!volume.backingPath.empty()) {
            backing.insert(volume.backingPath);
        }
    }
    const auto& binding = hosts_.binding(host);
    std::vector<std::string> swept;
    for (const auto& volume : volumes) {
        if (!isBaseVolumeName(volume.name) || wanted.contains(volume.name) || backing.contains(volume.path)) {
            continue;
        }
        log::info("removing a base image no overlay uses", {{"volume", volume.name}, {"host", binding.name}});
        if (auto removed = binding.storage->deleteVolume(volume.name); !removed) {
            log::warn("cannot remove an unused base image",
                      {{"volume", volume.name}, {"error", removed.error().message}});
            continue;
        }
        swept.push_back(volume.name);
    }
    return swept;
}

asio::awaitable<Result<void>> ImageCache::forget(std::size_t host, std::vector<std::string> swept) {
    std::vector<std::string> marks;
    for (const auto& name : swept) {
        marks.push_back(markFor(host, name));
    }
    auto work = [this, marks]() -> Result<void> {
        for (const auto& mark : marks) {
            if (auto forgotten = metadata_.forgetImageImported(mark); !forgotten) {
                return forgotten;
            }
        }
        return {};
    };
    co_return co_await storePool_.run(std::move(work));
}

}  // namespace gpuhost::agent

#include "libvirt/libvirt_storage.hpp"
#include "libvirt/node_xml.hpp"

#include <libvirt/libvirt.h>
#include <sys/stat.h>

#include <libvirt/virterror.h>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <vector>

#include "libvirt/domain_xml.hpp"

namespace gpuhost::drivers::libvirt {

using model::Error;
using model::ErrorCode;
using model::Result;

namespace {

using PoolHandle = std::unique_ptr<virStoragePool, decltype(&virStoragePoolFree)>;
using VolumeHandle = std::unique_ptr<virStorageVol, decltype(&virStorageVolFree)>;
using StreamHandle = std::unique_ptr<virStream, decltype(&virStreamFree)>;

std::string poolXml(const std::string& name, const std::filesystem::path& path) {
    return "<pool type='dir'>\n  <name>" + xmlEscape(name) + "</name>\n  <target>\n    <path>" +
           xmlEscape(path.string()) +
           "</path>\n    <permissions>\n      <mode>0711</mode>\n    </permissions>\n"
           "  </target>\n</pool>\n";
}

Result<Volume> describe(virStorageVolPtr volume) {
    virStorageVolInfo info{};
    char* path = virStorageVolGetPath(volume);
    if (path == nullptr || virStorageVolGetInfo(volume, &info) != 0) {
        std::free(path);
        return lastLibvirtError("describe volume");
    }
    Volume described{virStorageVolGetName(volume), path, info.capacity, {}};
    std::free(path);
    return described;
}

// A live connection and the pool on it, held together for one operation.
struct PoolAccess {
    Connection::Handle conn;
    PoolHandle pool{nullptr, virStoragePoolFree};
};

Result<PoolAccess> openPool(Connection& connection, const std::string& name) {
    auto conn = connection.get();
    if (!conn) {
        return conn.error();
    }
    virStoragePoolPtr pool = virStoragePoolLookupByName(conn->get(), name.c_str());
    if (pool == nullptr) {
        return connection.classify(lastLibvirtError("look up storage pool " + name));
    }
    return PoolAccess{std::move(*conn), PoolHandle(pool, virStoragePoolFree)};
}

std::string localPath(virStorageVolPtr volume) {
    char* path = virStorageVolGetPath(volume);
    std::string text = path != nullptr ? path : "";
    std::free(path);
    return text;
}

Result<void> copyFile(const std::filesystem::path& from, const std::filesystem::path& to) {
    std::ifstream in(from, std::ios::binary);
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    // A seed volume copied here holds user-data: owner-only.
    std::error_code modeError;
    std::filesystem::permissions(to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace, modeError);
    out << in.rdbuf();
    out.flush();
    if (!in || !out || modeError) {
        return Error::internal("copy " + from.string() + " to " + to.string() + " failed");
    }
    return {};
}

}  // namespace

Error LibvirtStorage::failed(std::string_view what) {
    return connection_.classify(lastLibvirtError(what));
}

Result<void> LibvirtStorage::upload(virConnectPtr conn, virStorageVolPtr volume,
                                    const std::filesystem::path& source, std::uint64_t bytes) {
    StreamHandle stream(virStreamNew(conn, 0), virStreamFree);
    if (stream == nullptr) {
        return failed("open upload stream");
    }
    if (virStorageVolUpload(volume, stream.get(), 0, bytes, 0) != 0) {
        bool unsupported = virGetLastErrorCode() == VIR_ERR_NO_SUPPORT;  // before the next call resets it
        auto error = failed("upload to volume");
        // Drivers without upload (libvirt's test driver) on a pool this agent made under
        // its own state dir: the path is ours, on this machine, so copy the file there.
        std::filesystem::path target = localPath(volume);
        if (unsupported && target.parent_path() == poolPath_) {
            std::error_code ignored;
            std::filesystem::create_directories(poolPath_, ignored);  // that driver does not build it
            return copyFile(source, target);
        }
        return error;
    }
    std::ifstream in(source, std::ios::binary);
    std::vector<char> chunk(1 << 20);
    std::uint64_t sent = 0;
    while (in && sent < bytes) {
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        auto got = static_cast<std::size_t>(in.gcount());
        for (std::size_t offset = 0; offset < got;) {
            int n = virStreamSend(stream.get(), chunk.data() + offset, got - offset);
            if (n < 0) {
                auto error = failed("upload " + source.string());
                virStreamAbort(stream.get());
                return error;
            }
            offset += static_cast<std::size_t>(n);
        }
        sent += got;
    }
    if (sent != bytes || virStreamFinish(stream.get()) != 0) {
        auto error = failed("upload " + source.string());
        virStreamAbort(stream.get());
        return error;
    }
    return {};
}

std::string LibvirtStorage::overlayXml(const std::string& name, const std::string& backingPath,
                                       std::string_view backingFormat, std::uint64_t capacityBytes) {
    return "<volume type='file'>\n  <name>" + xmlEscape(name) + "</name>\n  <capacity unit='bytes'>" +
           std::to_string(capacityBytes) +
           "</capacity>\n  <target>\n    <format type='qcow2'/>\n  </target>\n  <backingStore>\n    <path>" +
           xmlEscape(backingPath) + "</path>\n    <format type='" + xmlEscape(backingFormat) +
           "'/>\n  </backingStore>\n</volume>\n";
}

Result<void> LibvirtStorage::ensurePool() {
    // Two callers that both find the pool inactive would both start it, and the second
    // would fail with "already active" (seen when creates met a restart's reconcile).
    std::lock_guard serialized(poolMutex_);
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    PoolHandle pool(virStoragePoolLookupByName(conn->get(), poolName_.c_str()), virStoragePoolFree);
    if (pool == nullptr) {
        pool.reset(virStoragePoolDefineXML(conn->get(), poolXml(poolName_, poolPath_).c_str(), 0));
        if (pool == nullptr) {
            // Someone else (another agent, an operator) may have defined it meanwhile.
            pool.reset(virStoragePoolLookupByName(conn->get(), poolName_.c_str()));
        }
        if (pool == nullptr || virStoragePoolBuild(pool.get(), 0) != 0) {
            return failed("define storage pool " + poolName_);
        }
    }
    if (virStoragePoolIsActive(pool.get()) != 1 && virStoragePoolCreate(pool.get(), 0) != 0 &&
        virStoragePoolIsActive(pool.get()) != 1) {
        return failed("start storage pool " + poolName_);
    }
    virStoragePoolSetAutostart(pool.get(), 1);
    return {};
}

Result<Volume> LibvirtStorage::volume(const std::string& name) {
    auto access = openPool(connection_, poolName_);
    if (!access) {
        return access.error();
    }
    virStorageVolPtr raw = virStorageVolLookupByName(access->pool.get(), name.c_str());
    if (raw == nullptr) {
        return failed("look up volume " + name);
    }
    VolumeHandle volume(raw, virStorageVolFree);
    return describe(volume.get());
}

Result<std::vector<Volume>> LibvirtStorage::listVolumes() {
    auto access = openPool(connection_, poolName_);
    if (!access) {
        return access.error();
    }
    virStoragePoolRefresh(access->pool.get(), 0);  // files may have changed behind libvirt's back
    virStorageVolPtr* volumes = nullptr;
    int count = virStoragePoolListAllVolumes(access->pool.get(), &volumes, 0);
    if (count < 0) {
        return failed("list volumes of " + poolName_);
    }
    std::vector<Volume> listed;
    for (int i = 0; i < count; ++i) {
        VolumeHandle volume(volumes[i], virStorageVolFree);
        if (auto described = describe(volume.get())) {
            if (char* xml = virStorageVolGetXMLDesc(volume.get(), 0)) {
                described->backingPath = parseVolumeBackingPath(xml);
                std::free(xml);
            }
            listed.push_back(std::move(*described));
        }
    }
    std::free(volumes);
    return listed;
}

Result<Volume> LibvirtStorage::createOverlay(const std::string& name, const std::string& backingPath,
                                             std::string_view backingFormat, std::uint64_t capacityBytes) {
    auto access = openPool(connection_, poolName_);
    if (!access) {
        return access.error();
    }
    std::string xml = overlayXml(name, backingPath, backingFormat, capacityBytes);
    virStorageVolPtr raw = virStorageVolCreateXML(access->pool.get(), xml.c_str(), 0);
    if (raw == nullptr) {
        return failed("create overlay " + name);
    }
    VolumeHandle volume(raw, virStorageVolFree);
    return describe(volume.get());
}

Result<Volume> LibvirtStorage::importFile(const std::string& name, const std::filesystem::path& source) {
    std::error_code ec;
    auto bytes = std::filesystem::file_size(source, ec);
    if (ec) {
        return Error::internal("import " + source.string() + ": " + ec.message());
    }
    auto access = openPool(connection_, poolName_);
    if (!access) {
        return access.error();
    }
    // Raw to libvirt: it only allocates the file; the bytes (ISO or qcow2) come next.
    std::string xml = "<volume type='file'>\n  <name>" + xmlEscape(name) +
                      "</name>\n  <capacity unit='bytes'>" + std::to_string(bytes) +
                      "</capacity>\n  <target>\n    <format type='raw'/>\n  </target>\n</volume>\n";
    virStorageVolPtr raw = virStorageVolCreateXML(access->pool.get(), xml.c_str(), 0);
    if (raw == nullptr) {
        return failed("create volume " + name);
    }
    VolumeHandle volume(raw, virStorageVolFree);
    auto copied = upload(access->conn.get(), volume.get(), source, bytes);
    if (!copied) {
        virStorageVolDelete(volume.get(), 0);  // never leave a half-written volume behind
        return copied.error();
    }
    return describe(volume.get());
}

Result<void> LibvirtStorage::deleteVolume(const std::string& name) {
    auto access = openPool(connection_, poolName_);
    if (!access) {
        return access.error();
    }
    VolumeHandle handle(virStorageVolLookupByName(access->pool.get(), name.c_str()), virStorageVolFree);
    if (handle == nullptr) {
        auto error = failed("delete volume " + name);
        return error.code == ErrorCode::NotFound ? Result<void>{} : Result<void>{error};
    }
    std::filesystem::path path = localPath(handle.get());
    if (virStorageVolDelete(handle.get(), 0) != 0) {
        return failed("delete volume " + name);
    }
    // What the upload fallback copied for a driver that keeps no files (the test driver).
    if (path.parent_path() == poolPath_) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
    }
    return {};
}

// Shared directories ---------------------------------------------------------------

namespace {

// libvirt 9.0 decides whether an fs pool is mounted by comparing /proc/mounts' source
// with the pool's device: for an image file the kernel shows /dev/loopN, so libvirt
// never sees it mounted (it would mount it again, and never unmounts it). Where the
// host is this machine, look at the mount point itself.
bool isLocalUri(const std::string& uri) {
    auto scheme = uri.find("://");
    return scheme != std::string::npos && uri.compare(scheme + 3, 1, "/") == 0;
}

bool mountedHere(const std::filesystem::path& path) {
    struct stat self {
    }, parent{};
    return ::stat(path.c_str(), &self) == 0 && ::stat(path.parent_path().c_str(), &parent) == 0 &&
           self.st_dev != parent.st_dev;
}

}  // namespace

std::string LibvirtStorage::sharedPoolXml(const std::string& name, const std::string& imagePath,
                                          const std::filesystem::path& mountPoint) {
    return "<pool type='fs'>\n  <name>" + xmlEscape(name) + "</name>\n  <source>\n    <device path='" +
           xmlEscape(imagePath) + "'/>\n    <format type='ext4'/>\n  </source>\n  <target>\n    <path>" +
           xmlEscape(mountPoint.string()) +
           "</path>\n    <permissions>\n      <mode>0755</mode>\n    </permissions>\n  </target>\n</pool>\n";
}

Result<std::string> LibvirtStorage::ensureSharedDirectory(const std::string& name, std::uint64_t sizeBytes) {
    auto image = volume(name + ".img");
    if (!image && image.error().code != ErrorCode::NotFound) {
        return image.error();
    }
    if (!image) {
        auto access = openPool(connection_, poolName_);
        if (!access) {
            return access.error();
        }
        // Sparse: the host's disk is used as files are written, up to the size.
        std::string xml = "<volume>\n  <name>" + xmlEscape(name) + ".img</name>\n  <capacity unit='bytes'>" +
                          std::to_string(sizeBytes) +
                          "</capacity>\n  <allocation unit='bytes'>0</allocation>\n  <target>\n"
                          "    <format type='raw'/>\n  </target>\n</volume>\n";
        VolumeHandle created(virStorageVolCreateXML(access->pool.get(), xml.c_str(), 0), virStorageVolFree);
        if (created == nullptr) {
            return failed("create the image of " + name);
        }
        image = describe(created.get());
        if (!image) {
            return image.error();
        }
    }
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    auto mountPoint = sharedRoot_ / name;
    virStoragePoolPtr raw = virStoragePoolLookupByName(conn->get(), name.c_str());
    if (raw == nullptr) {
        raw = virStoragePoolDefineXML(conn->get(), sharedPoolXml(name, image->path, mountPoint).c_str(), 0);
        if (raw == nullptr) {
            return failed("define the pool of " + name);
        }
    }
    PoolHandle pool(raw, virStoragePoolFree);
    bool local = isLocalUri(connection_.uri());
    if (local && mountedHere(mountPoint)) {
        virStoragePoolSetAutostart(pool.get(), 1);
        return mountPoint.string();  // mounted already: never stack a second mount on it
    }
    if (virStoragePoolIsActive(pool.get()) == 1 && local) {
        virStoragePoolDestroy(pool.get());  // libvirt's idea of "active" is stale (see above)
    }
    if (virStoragePoolIsActive(pool.get()) != 1 && virStoragePoolCreate(pool.get(), 0) != 0) {
        // Not formatted yet (new, or a crash came between define and build): mkfs only
        // where there is no file system, then mount.
        if (virStoragePoolBuild(pool.get(), VIR_STORAGE_POOL_BUILD_NO_OVERWRITE) != 0 ||
            virStoragePoolCreate(pool.get(), 0) != 0) {
            return failed("format and mount " + name);
        }
    }
    virStoragePoolSetAutostart(pool.get(), 1);
    return mountPoint.string();
}

Result<void> LibvirtStorage::removeSharedDirectory(const std::string& name) {
    auto conn = connection_.get();
    if (!conn) {
        return conn.error();
    }
    if (virStoragePoolPtr raw = virStoragePoolLookupByName(conn->get(), name.c_str()); raw != nullptr) {
        PoolHandle pool(raw, virStoragePoolFree);
        if (virStoragePoolIsActive(pool.get()) == 1 && virStoragePoolDestroy(pool.get()) != 0) {
            return failed("unmount " + name);  // busy: a guest still uses it
        }
        auto mountPoint = sharedRoot_ / name;
        if (isLocalUri(connection_.uri()) && mountedHere(mountPoint)) {
            // libvirt did not unmount it (see above): umount2 here, or the privileged helper
            // where this process runs unprivileged in a mount namespace of its own.
            if (auto released = releaser_.release(name, mountPoint); !released) {
                return released.error();  // busy: a guest still uses it
            }
        }
        virStoragePoolDelete(pool.get(), 0);  // removes the mount point; best effort
        if (virStoragePoolUndefine(pool.get()) != 0) {
            return failed("undefine the pool of " + name);
        }
    } else if (virGetLastErrorCode() != VIR_ERR_NO_STORAGE_POOL) {
        return failed("look up the pool of " + name);
    }
    return deleteVolume(name + ".img");
}

}  // namespace gpuhost::drivers::libvirt

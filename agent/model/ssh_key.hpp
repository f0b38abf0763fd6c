#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/error.hpp"

namespace gpuhost::model {

inline constexpr std::size_t kMaxSshKeyLength = 8192;  // a 16384-bit RSA key line is ~2.8 KiB
inline constexpr std::size_t kMaxSshKeys = 32;
inline constexpr unsigned kMinRsaBits = 2048;

/// One checked OpenSSH public key, as it goes into authorized_keys.
struct SshPublicKey {
    std::string type;     // e.g. "ssh-ed25519"
    std::string blob;     // canonical base64 of the wire-format key
    std::string comment;  // printable UTF-8, may be empty

    /// The normalized authorized_keys line: "type blob" or "type blob comment", no newline.
    std::string line() const;
};

/// The key types accepted, in the order error messages list them.
const std::vector<std::string_view>& supportedSshKeyTypes();

/// Parses one `type base64 [comment]` line. Refused, with the error naming `field`: authorized_keys
/// options (`command=`, `from=`, `no-pty` ...), certificates and unknown or retired types (ssh-dss),
/// any newline, NUL or other control character, a blob that is not strict base64, whose embedded
/// type differs from the prefix, whose fields do not parse for that type, or that carries trailing
/// bytes, and RSA keys under 2048 bits. Fields are separated by spaces (tabs are control characters
/// here, refused like the rest); spaces around the line are dropped.
Result<SshPublicKey> parseSshPublicKey(std::string_view text, const std::string& field);

/// A user's `sshKeys`: at most 32, each checked as parseSshPublicKey with the field `sshKeys[i]`;
/// the same key twice (same type and blob, whatever the comment) is refused too.
Result<std::vector<SshPublicKey>> parseSshPublicKeys(const std::vector<std::string>& keys,
                                                     const std::string& field = "sshKeys");

}  // namespace gpuhost::model

#pragma once

// The QEMU guest agent's JSON protocol as gpuhost speaks it: commands built and replies
// parsed by pure functions, so every odd reply can be tested without libvirt or a VM.
#include <cstdint>
#include <string>
#include <string_view>

#include "guest_agent.hpp"
#include "model/error.hpp"

namespace gpuhost::drivers::libvirt {

/// RFC 4648 base64 with padding (OpenSSL's encoder).
std::string encodeBase64(std::string_view bytes);
/// Strict RFC 4648 base64 (padded, no whitespace); Internal naming `what` otherwise.
model::Result<std::string> decodeBase64(std::string_view text, std::string_view what);

std::string guestPingCommand();
/// guest-exec with `capture-output`, the arguments as an array and stdin as input-data;
/// InvalidArgument when an argument or variable is not UTF-8 (JSON cannot carry it).
model::Result<std::string> guestExecCommand(const GuestCommand& command);
std::string guestExecStatusCommand(std::int64_t pid);

/// The reply to guest-ping: any object with "return".
model::Result<void> parseGuestPingReply(std::string_view reply);
/// The pid in guest-exec's reply ({"return": {"pid": N}}).
model::Result<std::int64_t> parseGuestExecReply(std::string_view reply);
/// guest-exec-status' reply. Missing or mistyped fields are Internal errors naming the
/// field, never a crash: the reply comes from inside a guest that the user controls.
model::Result<GuestExecStatus> parseGuestExecStatusReply(std::string_view reply);

}  // namespace gpuhost::drivers::libvirt

// The rehearsal's answer in a live upgrade (docs/upgrade.md#the-handshake). The old master does
// not take a new binary's exit status for an answer: a binary that is no clusterd (/bin/true)
// exits 0 too. The new binary proves it decoded the very state it was sent: it writes one line
// on its fd 4,
//
//   clusterd-upgrade-handshake protocol=1 version=0.2.0 sha256=<64 lowercase hex digits>
//
// the upgrade protocol it speaks (kUpgradeVersion: the state document's version), its own
// version, and the SHA-256 of the state as it decoded it, encoded again (which it first checks
// is the document it read, byte for byte). The old master execs it only when that line is exactly
// so, with its own protocol version and the digest of the document it sent.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "supervisor/daemon/upgrade_state.h"

namespace clusterd::daemon {

/// The longest handshake a master reads; a longer answer is refused as overlong.
inline constexpr std::size_t kMaxHandshake = 256;

/// A handshake that passed check_handshake().
struct UpgradeHandshake {
  int protocol = 0;
  std::string version;  // the new binary's: letters, digits and ".+-_~", at most 64
  std::string sha256;
};

/// The SHA-256 of `data` in 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

/// decode_upgrade_state(), and refuses a document that encoding what was decoded does not give
/// back byte for byte: a field this clusterd does not know, or reads differently, would be lost
/// in the hand-over. Throws std::runtime_error naming what it refuses.
UpgradeState decode_whole_upgrade_state(std::string_view document);

/// The new binary's handshake for `document`, a state it decoded whole: one line, '\n' ended.
std::string handshake_line(std::string_view document);

/// The old master's check of what the rehearsal wrote on its fd 4 (`said`), the document it sent
/// having the digest `sha256`. Returns the handshake when `said` is exactly one well-formed line
/// of this master's protocol with that digest; else throws std::runtime_error saying what was
/// wrong: none, overlong, not one line, malformed, another protocol, another state.
UpgradeHandshake check_handshake(std::string_view said, std::string_view sha256);

}  // namespace clusterd::daemon

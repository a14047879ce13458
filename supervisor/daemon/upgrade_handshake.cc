// The handshake of a live upgrade's rehearsal (upgrade_handshake.h): a line of fixed fields, read
// from a binary that may be anything, so parsed by the character and refused at the first doubt.
#include "supervisor/daemon/upgrade_handshake.h"

#include <nettle/sha2.h>

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

#include "text/printable.h"

namespace clusterd::daemon {

namespace {

constexpr std::string_view kMagic = "clusterd-upgrade-handshake";

bool only(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}
constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::string_view kVersionChars =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-_~";

// The value of `field` when it is `key`=VALUE, else nullopt.
std::optional<std::string_view> value_of(std::string_view field, std::string_view key) {
  if (field.size() <= key.size() + 1 || !field.starts_with(key) || field[key.size()] != '=') {
    return std::nullopt;
  }
  return field.substr(key.size() + 1);
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  for (std::size_t at = 0;;) {
    const std::size_t space = line.find(' ', at);
    out.push_back(line.substr(at, space - at));
    if (space == std::string_view::npos) return out;
    at = space + 1;
  }
}

// The fields of a well-formed line (without its '\n'), or nullopt.
std::optional<UpgradeHandshake> parse(std::string_view line) {
  const std::vector<std::string_view> fields = split(line);
  if (fields.size() != 4 || fields[0] != kMagic) return std::nullopt;
  const auto protocol = value_of(fields[1], "protocol");
  const auto version = value_of(fields[2], "version");
  const auto sha256 = value_of(fields[3], "sha256");
  if (!protocol || protocol->size() > 6 || !only(*protocol, kDigits) ||
      (protocol->size() > 1 && protocol->front() == '0')) {
    return std::nullopt;
  }
  if (!version || version->size() > 64 || !only(*version, kVersionChars)) return std::nullopt;
  if (!sha256 || sha256->size() != 64 || !only(*sha256, kHex)) return std::nullopt;
  return UpgradeHandshake{std::stoi(std::string(*protocol)), std::string(*version),
                          std::string(*sha256)};
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
  std::array<std::uint8_t, SHA256_DIGEST_SIZE> digest{};
  sha256_digest(&ctx, digest.size(), digest.data());
  std::string out;
  for (const std::uint8_t byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

UpgradeState decode_whole_upgrade_state(std::string_view document) {
  UpgradeState state = decode_upgrade_state(document);
  if (encode_upgrade_state(state) != document) {
    throw std::runtime_error(
        "the upgrade state does not come back whole from this clusterd's decoder (a field it "
        "does not know, or reads otherwise): taking it over would lose that");
  }
  return state;
}

std::string handshake_line(std::string_view document) {
  return std::string(kMagic) + " protocol=" + std::to_string(kUpgradeVersion) +
         " version=" CLUSTERD_VERSION " sha256=" + sha256_hex(document) + "\n";
}

UpgradeHandshake check_handshake(std::string_view said, std::string_view sha256) {
  if (said.empty()) throw std::runtime_error("no handshake (it exited 0 without writing one)");
  if (said.size() > kMaxHandshake) {
    throw std::runtime_error("an overlong handshake (more than " + std::to_string(kMaxHandshake) +
                             " bytes)");
  }
  const auto quoted = [](std::string_view text) {
    return "\"" + printable(text.substr(0, 120)) + "\"";
  };
  if (said.back() != '\n' || said.find('\n') != said.size() - 1) {
    throw std::runtime_error("a handshake that is not one line: " + quoted(said));
  }
  const std::string_view line = said.substr(0, said.size() - 1);
  const std::optional<UpgradeHandshake> handshake = parse(line);
  if (!handshake) throw std::runtime_error("a malformed handshake: " + quoted(line));
  if (handshake->protocol != kUpgradeVersion) {
    throw std::runtime_error("it speaks upgrade protocol " + std::to_string(handshake->protocol) +
                             "; this master speaks " + std::to_string(kUpgradeVersion));
  }
  if (handshake->sha256 != sha256) {
    throw std::runtime_error("it decoded another state (sha256 " + handshake->sha256.substr(0, 16) +
                             "..., sent " + std::string(sha256.substr(0, 16)) + "...)");
  }
  return *handshake;
}

}  // namespace clusterd::daemon

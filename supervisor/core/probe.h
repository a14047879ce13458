// The ready probe (ready: http, tcp) as decisions: which address a worker's probe tries, the bytes
// an http try sends, and what a try's outcome means (ready, or the text of why not). The host
// only connects, writes and reads (Probes in daemon/host.h); the lane decides when to try again.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "supervisor/core/events.h"

namespace clusterd::core {

/// What one try did, as the host saw it: facts, no judgement.
struct ProbeReply {
  enum class Kind {
    Connected,       // tcp: the connect succeeded (and the socket was closed)
    ConnectFailed,   // `error`: the connect's error text ("Connection refused")
    ConnectTimeout,  // no connect within the try's limit
    Answered,        // http: `head` holds what came back (up to its first CRLF, at most 4 KiB)
    NoAnswer,        // http: connected, but no line (nor the end) within the try's limit
    IoFailed,        // http: `error`: a write or read failed
  };
  Kind kind = Kind::ConnectFailed;
  std::string error;
  std::string head;
};

/// The most of an answer the host reads: its status line must fit.
inline constexpr std::size_t kProbeHeadMax = 4096;

/// The address worker `index` of `spec` is probed at: its port_per_worker listener's; nullopt
/// when the app probes nothing or the port would pass 65535.
std::optional<config::Address> probe_target(const config::AppSpec& spec, unsigned index);

/// ready: http: `METHOD PATH HTTP/1.1`, Host, Connection: close; empty for tcp.
std::string probe_request(const config::AppSpec& spec, const config::Address& target);

/// How long one try may take (connect, request, the status line): 9/10 of the interval, so that
/// it ends, and says how, before the lane's timer asks for the next try. A server that accepts
/// and never answers is reported as such instead of being cut off by the next try.
config::Duration probe_limit(const config::AppSpec& spec);

/// Ready (tcp: connected; http: a 2xx or 3xx status line), or why not: "connect: Connection
/// refused", "GET /healthz: 503", "GET /healthz: no answer within 250ms".
ProbeResult judge_probe(const config::AppSpec& spec, const ProbeReply& reply);

}  // namespace clusterd::core

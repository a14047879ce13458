// The control protocol shared by clusterd and clusterctl: newline-delimited JSON over a Unix stream
// socket, one request object and one reply object per line, every reply carrying "v" (the protocol
// version). The wire format lives here and only here (docs/control-protocol.md describes it).
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "supervisor/control/commands.h"
#include "supervisor/control/describe.h"
#include "supervisor/control/records.h"
#include "supervisor/control/reply.h"
#include "supervisor/control/status.h"

namespace clusterd::control {

inline constexpr int kProtocolVersion = 1;
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
/// The most workers `scale` may ask for, absolute or relative (config::kMaxInstances).
inline constexpr unsigned kMaxInstances = 65536;

/// One request; which fields a command takes is its entry in kCommands.
struct Request {
  Command command = Command::Status;
  std::optional<std::string> app;
  std::optional<unsigned> instances;
  bool instances_auto = false;  // scale: "instances": "auto", what instances: auto gives now
  // scale: "delta": the workers to add (> 0) or remove (< 0), counted from the app's instances
  // when the daemon handles the request (`clusterctl scale APP +N|-N`); instead of "instances".
  std::optional<int> delta;
  std::optional<unsigned> worker;
  bool wait = true;  // reload: reply when the rollout is over
  // logs, events: the last `lines` records (the daemon's default when unset), only those at
  // most `since_ms` old ("since_s" on the wire), then, with `follow`, every new one until the
  // client goes.
  std::optional<unsigned> lines;
  std::optional<std::uint64_t> since_ms;
  bool follow = false;
  // status: with the numbers that cost the kernel most to give (smaps_rollup's PSS and USS, the
  // count of open fds: ~0.2 ms a worker), for `status --json --detail` and `top`.
  bool detail = false;
  // upgrade: the new clusterd binary (an absolute path); unset: the one the master runs.
  std::optional<std::string> binary;
  // describe: the env values too (secret-looking names stay redacted).
  bool env = false;
};

/// A request the daemon cannot accept; the message goes back as {"ok": false, "error": ...}.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Decodes one request line (without the newline) and checks it against the command's entry in
/// kCommands. Throws ProtocolError naming the problem.
Request decode_request(std::string_view line);
/// Encodes a request as one line (with the newline), for clusterctl.
std::string encode_request(const Request& request);

/// Replies, each one line ending in a newline.
ReplyLine encode_error(std::string_view message);  // ok: false
ReplyLine encode_done(std::string_view message);
ReplyLine encode_status(const StatusSnapshot& status);
ReplyLine encode_version(std::string_view version);
ReplyLine encode_describe(const AppDescription& description);
/// A progress line of a long command (reload); the final reply follows it.
ReplyLine encode_progress(std::string_view message);
/// One record of a logs or events reply; more lines follow (the last one is encode_done).
ReplyLine encode_log(const LogRecord& record);
ReplyLine encode_event(const EventRecord& record);

/// A decoded reply, for clusterctl.
struct Reply {
  bool ok = false;
  int version = 0;
  std::string error;    // when !ok
  std::string message;  // when ok: what was done
  std::optional<StatusSnapshot> status;
  std::optional<std::string> progress;        // set on a progress line: more lines follow
  std::optional<LogRecord> log;               // set on a record line: more lines follow
  std::optional<EventRecord> event;           // likewise
  std::optional<AppDescription> description;  // describe
  bool more() const { return progress || log || event; }
};
/// Throws ProtocolError when the line is not a reply.
Reply decode_reply(std::string_view line);

/// A record as one line of JSON (the object inside a log or event reply line), for
/// `clusterctl logs --json` and `clusterctl events --json`.
std::string record_json(const LogRecord& record);
std::string record_json(const EventRecord& record);

/// The JSON document of a status, pretty-printed, for `clusterctl status --json`.
std::string status_json(const StatusSnapshot& status);
/// The status object of a successful status reply `line`, printed as status_json prints it, but
/// straight from the reply (no StatusSnapshot in between: at 1,024 workers that halves what
/// `clusterctl status --json` spends); nullopt for an error reply or one without a status.
std::optional<std::string> reply_status_json(const std::string& line);
/// The status of a successful status reply `line`, decoded as it is parsed (no document in
/// between: at 1,024 workers that is most of what `clusterctl status` spends); nullopt for any
/// other line, or one holding anything decode_reply would refuse or decode besides the status:
/// decode_reply(line) then gives the answer, or the error.
std::optional<StatusSnapshot> reply_status(const std::string& line);
/// A status reply decoded as it was read, once, as its printing needs it: the text of
/// `status --json` (`json`, reply_status_json) or the snapshot (reply_status). Neither is set
/// when the line is not a plain, successful status reply: decode_reply's then.
struct StatusReply {
  std::optional<StatusSnapshot> snapshot;
  std::optional<std::string> json;
};
StatusReply decode_status_reply(const std::string& line, bool json);
/// The JSON document of a description, pretty-printed, for `clusterctl describe --json`.
std::string describe_json(const AppDescription& description);

}  // namespace clusterd::control

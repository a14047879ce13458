// A request's way back to its client: any number of lines (progress, a live stream), then the
// last one. The server bounds what a client may leave unread: one that falls too far behind is
// disconnected, so a slow reader can neither block the daemon nor grow its memory.
#pragma once

#include <memory>
#include <string>

namespace clusterd::control {

/// One line of a reply (one JSON object and its newline) and whether it reports a failure. The
/// protocol's encoders make them (protocol.h), so the text and the flag cannot disagree.
struct ReplyLine {
  std::string text;
  bool ok = true;
};

class ReplyStream {
 public:
  virtual ~ReplyStream() = default;
  /// Queues a line (ending in '\n') that is not the last. A client over its queue bound is
  /// dropped: open() turns false and later lines are discarded.
  virtual void send(ReplyLine line) = 0;
  /// Queues the last line; the connection then reads the next request. Later calls do nothing.
  virtual void finish(ReplyLine line) = 0;
  /// False once the client has gone away, was dropped, or had its last line: stop streaming.
  virtual bool open() const = 0;
  /// The client's socket, when nothing is queued for it: a live upgrade hands it to the next
  /// master, which writes the last line. -1 when it cannot be handed over.
  virtual int handover_fd() const { return -1; }
};

using ReplyPtr = std::shared_ptr<ReplyStream>;

}  // namespace clusterd::control

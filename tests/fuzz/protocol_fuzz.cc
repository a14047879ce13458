// libFuzzer target: arbitrary bytes as one line of the control protocol, both ways.
//  - as a request (what the daemon's control server receives): decode_request() either returns a
//    Request or throws ProtocolError; the error text goes back through encode_error(), as in
//    supervisor/control/server.cc. A decoded request survives encode_request() -> decode_request()
//    (its command, app, instances, delta, worker and wait).
//  - as a reply (what clusterctl receives): decode_reply() either returns or throws ProtocolError;
//    a decoded status is re-encoded and decoded again, as `clusterctl status --json` would.
// Any other exception escapes and libFuzzer reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "supervisor/control/protocol.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "protocol_fuzz: invariant violated: %s\n", what);
  std::abort();
}

// One encoded line: non-empty, ends in its only newline.
std::string_view one_line(const std::string& encoded) {
  if (encoded.empty() || encoded.back() != '\n') fail("encoded line does not end in a newline");
  std::string_view body(encoded.data(), encoded.size() - 1);
  if (body.find('\n') != std::string_view::npos) fail("encoded line contains a newline");
  return body;
}

void fuzz_request(std::string_view line) {
  using namespace clusterd::control;
  Request request;
  try {
    request = decode_request(line);
  } catch (const ProtocolError& e) {
    (void)one_line(encode_error(e.what()).text);  // what the server sends back
    return;
  }
  const std::string encoded = encode_request(request);
  Request again;
  try {
    again = decode_request(one_line(encoded));
  } catch (const ProtocolError& e) {
    std::fprintf(stderr, "re-encoded request %s refused: %s\n", encoded.c_str(), e.what());
    fail("encode_request() output does not decode");
  }
  if (again.command != request.command) fail("round trip changes the command");
  if (again.app != request.app) fail("round trip changes the app");
  if (again.instances != request.instances) fail("round trip changes instances");
  if (again.delta != request.delta) fail("round trip changes delta");
  if (again.worker != request.worker) fail("round trip changes worker");
  if (request.command == Command::Reload && again.wait != request.wait) {
    fail("round trip changes wait");
  }
}

void fuzz_reply(std::string_view line) {
  using namespace clusterd::control;
  Reply reply;
  try {
    reply = decode_reply(line);
  } catch (const ProtocolError&) {
    return;
  }
  if (!reply.status) return;
  (void)status_json(*reply.status);
  Reply again;
  try {
    again = decode_reply(one_line(encode_status(*reply.status).text));
  } catch (const ProtocolError& e) {
    std::fprintf(stderr, "re-encoded status refused: %s\n", e.what());
    fail("encode_status() output does not decode");
  }
  if (!again.status) fail("re-encoded status lost");
  const StatusSnapshot& a = *reply.status;
  const StatusSnapshot& b = *again.status;
  if (a.apps.size() != b.apps.size()) fail("status round trip changes the app count");
  for (std::size_t i = 0; i < a.apps.size(); ++i) {
    if (a.apps[i].name != b.apps[i].name) fail("status round trip changes an app name");
    if (a.apps[i].workers.size() != b.apps[i].workers.size()) {
      fail("status round trip changes a worker count");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  fuzz_request(line);
  fuzz_reply(line);
  return 0;
}

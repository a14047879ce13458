#include "worker/hello_options.h"

#include <cstdio>
#include <cstdlib>

namespace hello {

namespace {

[[noreturn]] void usage(int code) {
  std::fputs(
      "usage: hello-worker [options]\n"
      "  --listen ADDR       bind ADDR (127.0.0.1:8080, [::1]:8080, unix:/path); repeatable\n"
      "  --threads N         threads running the event loop (default 1)\n"
      "  --ready-delay MS    wait MS milliseconds before binding and READY=1\n"
      "  --crash-after N     abort() after answering N requests in total\n"
      "  --ignore-term       ignore SIGTERM and SIGINT\n"
      "  --fork-child        fork one child that sleeps and dies with this process\n"
      "  --log-requests      write one line per request to stdout (an access log)\n"
      "  --exit-after MS     exit with code 3 after MS milliseconds\n"
      "  --drain-idle MS     when draining, keep an idle connection open this long\n"
      "                      for its next request (answered with Connection: close); default 1000\n"
      "Sockets come from LISTEN_FDS (socket activation), else CLUSTER_LISTEN_<NAME>=ADDR,\n"
      "plus every --listen. GET /read answers with X-Worker: <id>/<pid>.\n",
      code == 0 ? stdout : stderr);
  std::exit(code);
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "hello-worker: %s needs a value\n", argv[i]);
        usage(2);
      }
      return argv[++i];
    };
    auto number = [&](auto& out) {
      const std::string_view name = arg;
      if (!parse_number(value(), out)) {
        std::fprintf(stderr, "hello-worker: %s needs a non-negative integer\n", name.data());
        usage(2);
      }
    };
    if (arg == "--help" || arg == "-h") {
      usage(0);
    } else if (arg == "--listen") {
      opt.listen.emplace_back(value());
    } else if (arg == "--threads") {
      number(opt.threads);
      if (opt.threads < 1) usage(2);
    } else if (arg == "--ready-delay") {
      number(opt.ready_delay_ms);
    } else if (arg == "--crash-after") {
      number(opt.crash_after);
    } else if (arg == "--exit-after") {
      number(opt.exit_after_ms);
    } else if (arg == "--drain-idle") {
      number(opt.drain_idle_ms);
    } else if (arg == "--ignore-term") {
      opt.ignore_term = true;
    } else if (arg == "--fork-child") {
      opt.fork_child = true;
    } else if (arg == "--log-requests") {
      opt.log_requests = true;
    } else {
      std::fprintf(stderr, "hello-worker: unknown option %s\n", argv[i]);
      usage(2);
    }
  }
  return opt;
}

}  // namespace hello

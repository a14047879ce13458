// An app probed on each worker's own port (ready: http or tcp, a port_per_worker listener at
// 127.0.0.1:8000): what the probe and stop-first tests start from.
#pragma once

#include <chrono>

#include "config/config.h"

namespace clusterd::test {

inline config::AppSpec probed_spec(config::ReadyMode mode = config::ReadyMode::Http) {
  using namespace std::chrono_literals;
  config::AppSpec spec;
  spec.name = "web";
  spec.command = {"/bin/web"};
  spec.ready = mode;
  spec.ready_timeout = 2s;
  spec.probe = {"GET", "/healthz", "http", 250ms};
  config::ListenerSpec l;
  l.name = "http";
  l.mode = config::ListenMode::Worker;
  l.port_per_worker = true;
  l.address = {config::Address::Family::Ipv4, "127.0.0.1", 8000, "", "127.0.0.1:8000"};
  spec.listeners.push_back(l);
  return spec;
}

}  // namespace clusterd::test

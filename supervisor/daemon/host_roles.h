// Every role of one host together, for the daemon's construction (docs/architecture.md).
#pragma once

#include <concepts>

#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// Every role of one host, for the daemon's construction only: it hands each component the
/// roles that component uses. Made from any host implementing them all (loop::AsioHost, the
/// tests' FakeHost).
struct HostRoles {
  Clock& clock;
  Timers& timers;
  WorkerRunner& runner;
  Sockets& sockets;
  Occupancy& occupancy;
  OutputSinks& sinks;
  Machine& machine;
  ConfigSource& configs;
  Sampling& sampling;
  SystemdLink& systemd;
  EndpointHost& endpoints;
  UpgradeHost& upgrade;
  Probes& probes;
  FileWatches& files;

  template <class H>
  requires std::derived_from<H, Clock> HostRoles(
      H& host)  // NOLINT(google-explicit-constructor): any full host is its roles
      : clock(host),
        timers(host),
        runner(host),
        sockets(host),
        occupancy(host),
        sinks(host),
        machine(host),
        configs(host),
        sampling(host),
        systemd(host),
        endpoints(host),
        upgrade(host),
        probes(host),

        files(host) {}
};

}  // namespace clusterd::daemon

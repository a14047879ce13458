#include "supervisor/daemon/listeners.h"

#include <spdlog/spdlog.h>

#include <system_error>

#include "supervisor/daemon/adopter.h"

namespace clusterd::daemon {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    host_ = other.host_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

// Never throws what the host reports (it runs in destructors): close(2) lets go of the fd even
// when it reports an error, so that is logged and the fd counted as closed. (A logic_error, a
// bug such as a double close, still ends the master.)
void Fd::reset() {
  const int fd = std::exchange(fd_, -1);
  if (fd < 0 || host_ == nullptr) return;
  try {
    host_->close(fd);
  } catch (const std::system_error& e) {
    spdlog::error("closing socket fd {}: {}", fd, e.what());
  }
}

Listeners::Listeners(Sockets& sockets, Machine& machine, SystemdLink& systemd, Occupancy& occupancy)
    : sockets_(sockets),
      machine_(machine),
      systemd_(systemd),
      occupied_(occupancy),
      adoption_(std::make_unique<Adopter>(sockets)) {}

Listeners::~Listeners() {
  for (const config::Address& address : socket_files_) sockets_.remove_socket_file(address);
}

void Listeners::adopt_passed() {
  for (PassedSocket& passed : sockets_.take_passed_sockets()) {
    spdlog::info("systemd passed a socket named '{}' (fd {})", passed.name, passed.fd);
    passed_.emplace(passed.name, Fd(sockets_, passed.fd));
  }
}

void Listeners::close_unclaimed_passed() {
  for (auto& [name, fd] : passed_) {
    spdlog::error("systemd passed a socket named '{}' that matches no listener; closing it", name);
    if (name.find('/') != std::string::npos) systemd_.sd_remove_fd(name);
  }
  passed_.clear();
}

// A passed socket for slot `slot` of `spec`: "name/slot" from the fd store (ours from before a
// restart: if the config has moved the listener since, it is stale and dropped), or "name" from a
// .socket unit for slot 0 (a mismatch there is a configuration error).
Fd Listeners::take_passed(const config::ListenerSpec& spec, unsigned slot) {
  auto claim = [&](const std::string& name) -> Fd {
    auto it = passed_.find(name);
    if (it == passed_.end()) return {};
    Fd fd = std::move(it->second);
    passed_.erase(it);
    return fd;
  };
  const std::string stored_name = spec.name + "/" + std::to_string(slot);
  if (Fd stored = claim(stored_name)) {
    const std::string mismatch = sockets_.socket_mismatch(stored.get(), spec.address, false);
    if (mismatch.empty()) {
      spdlog::info("listener {} slot {}: took the socket back from the fd store", spec.name, slot);
      if (slot == 0) claim(spec.name);  // a .socket unit's copy of the same socket, if any
      return stored;
    }
    spdlog::warn("listener {}: the fd store's '{}' is {}, the config says {}; dropping it",
                 spec.name, stored_name, mismatch, spec.address.text);
    systemd_.sd_remove_fd(stored_name);
  }
  if (slot != 0) return {};
  Fd unit = claim(spec.name);
  if (!unit) return {};
  const std::string mismatch = sockets_.socket_mismatch(unit.get(), spec.address, false);
  if (!mismatch.empty()) {
    throw std::runtime_error("listener " + spec.name + ": the socket systemd passed as '" +
                             spec.name + "' is " + mismatch + ", but the config says " +
                             spec.address.text);
  }
  spdlog::info("listener {} slot 0: using the socket systemd passed as '{}'", spec.name, spec.name);
  return unit;
}

// An address in use is named with who holds it; at the start, the leftovers of the previous
// master that hold it are ended and the bind tried again (Occupied). A few rounds: a leftover
// may have started another process holding the socket while the first were being ended.
Fd Listeners::bind(const config::ListenerSpec& spec, const config::Address& address, bool reuseport,
                   const os::SocketAccess& access, const AddressOwner& owner) {
  constexpr int kRounds = 3;
  for (int round = 0;; ++round) {
    try {
      Fd fd(sockets_, sockets_.bind(address, spec.backlog, reuseport, access));
      if (address.family == config::Address::Family::Unix) socket_files_.push_back(address);
      return fd;
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::address_in_use) throw;
      // Returns when it ended the holders; throws, naming them, when it may not (or no more).
      occupied_.in_use(e.what(), address, owner, round >= kRounds);
    }
  }
}

AddressOwner Listeners::owner_of(const std::optional<os::Ids>& ids, config::Duration grace) {
  AddressOwner owner{{machine_.self_uid()}, grace};
  if (ids) owner.uids.push_back(ids->uid);
  return owner;
}

std::shared_ptr<Listener> Listeners::bind_listener(const std::string& app,
                                                   const config::ListenerSpec& spec, unsigned slots,
                                                   bool beside, const os::SocketAccess& access,
                                                   const AddressOwner& owner) {
  auto listener = std::make_shared<Listener>(Listener{spec, {}, {}});
  if (spec.mode == config::ListenMode::Shared) {
    Fd fd = take_passed(spec, 0);
    // Beside a running reuseport group on the same address, the shared socket joins the group.
    if (!fd) fd = bind(spec, spec.address, beside, access, owner);
    listener->fds.push_back(std::move(fd));
  } else if (spec.mode == config::ListenMode::ReusePort) {
    config::Address address = spec.address;
    std::string others;  // who else listens there, sharing the connections once we bind
    for (unsigned i = 0; i < slots; ++i) {
      Fd fd = take_passed(spec, i);
      if (fd && i == 0) {
        // The other slots must join its SO_REUSEPORT group; a .socket unit should say
        // ReusePort=yes, and setting it on a listening socket works on Linux all the same.
        sockets_.set_reuseport(fd.get());
      }
      if (!fd && i == 0) others = occupied_.before_reuseport(address, owner);
      if (!fd) fd = bind(spec, address, true, access, owner);
      if (address.port == 0) address.port = sockets_.local_port(fd.get());
      listener->fds.push_back(std::move(fd));
    }
    if (!others.empty()) {
      spdlog::warn(
          "{}: {} {}: shares its connections with other SO_REUSEPORT sockets there, "
          "held {}",
          app, spec.name, spec.address.text, others);
    }
  }
  listener->listening.assign(listener->fds.size(), Listening::Yes);
  if (!listener->fds.empty() && spec.address.family != config::Address::Family::Unix) {
    spdlog::info("{}: {} listening on {} port {} ({} socket{})", app, spec.name, spec.address.host,
                 sockets_.local_port(listener->fds[0].get()), listener->fds.size(),
                 listener->fds.size() == 1 ? "" : "s");
  }
  return listener;
}

Generation Listeners::prepare(const config::AppSpec& spec, unsigned slots,
                              const Generation* running,
                              const std::vector<core::ListenerStep>* steps,
                              std::optional<os::Ids> ids, const os::ResolvedNames& names) {
  Generation gen;
  std::optional<std::string> exe = machine_.find_executable(spec.command.at(0), spec.cwd);
  if (!exe) {
    throw std::runtime_error("apps." + spec.name + ".command: '" + spec.command[0] +
                             "' not found or not executable");
  }
  gen.executable = *exe;
  gen.ids = std::move(ids);
  for (std::size_t l = 0; l < spec.listeners.size(); ++l) {
    const config::ListenerSpec& ls = spec.listeners[l];
    const core::ListenerStep* step = steps != nullptr && l < steps->size() ? &(*steps)[l] : nullptr;
    const bool from_running = running != nullptr && step != nullptr && step->old &&
                              *step->old < running->listeners.size();
    if (from_running && step->kind == core::ListenerStep::Kind::Reuse) {
      const std::shared_ptr<Listener>& old = running->listeners[*step->old];
      if (old->spec.backlog != ls.backlog) gen.new_backlogs.emplace_back(old, ls.backlog);
      gen.listeners.push_back(old);
      continue;
    }
    const bool beside = from_running && step->kind == core::ListenerStep::Kind::Beside;
    if (beside) {
      // Before the new sockets can bind the address, the running ones must allow it. (This
      // stays set if the reload is refused later on: harmless, only our own uid may join.)
      for (const Fd& fd : running->listeners[*step->old]->fds) {
        if (fd) sockets_.set_reuseport(fd.get());
      }
    }
    os::SocketAccess access;
    access.mode = ls.socket_mode;
    if (!ls.socket_user.empty()) access.uid = names.users.at(ls.socket_user).uid;
    if (!ls.socket_group.empty()) access.gid = names.groups.at(ls.socket_group);
    gen.listeners.push_back(
        bind_listener(spec.name, ls, slots, beside, access, owner_of(gen.ids, spec.stop_timeout)));
  }
  return gen;
}

std::vector<std::pair<Listener*, std::vector<Fd>>> Listeners::grow(const Generation& gen,
                                                                   unsigned slots) {
  std::vector<std::pair<Listener*, std::vector<Fd>>> grown;
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    if (listener->spec.mode != config::ListenMode::ReusePort) continue;
    config::Address address = listener->spec.address;
    if (!listener->fds.empty() && listener->fds[0]) {
      address.port = sockets_.local_port(listener->fds[0].get());
    }
    std::vector<Fd> fds;
    for (unsigned i = 0; i < slots; ++i) {
      const bool have = i < listener->fds.size() && listener->fds[i];
      fds.push_back(have ? Fd() : bind(listener->spec, address, true, {}, owner_of(gen.ids, {})));
    }
    grown.emplace_back(listener.get(), std::move(fds));
  }
  return grown;
}

void Listeners::install(std::vector<std::pair<Listener*, std::vector<Fd>>> grown) {
  for (auto& [listener, fds] : grown) {
    if (listener->fds.size() < fds.size()) listener->fds.resize(fds.size());
    if (listener->listening.size() < fds.size()) listener->listening.resize(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i]) continue;
      listener->fds[i] = std::move(fds[i]);
      listener->listening[i] = Listening::Yes;
    }
  }
}

void Listeners::scale_down(const std::string& app, std::map<unsigned, Generation>& generations,
                           unsigned slots) {
  if (shrink(generations, slots) && !machine_.tcp_migrate_req()) {
    spdlog::warn(
        "{}: net.ipv4.tcp_migrate_req is 0: connections still queued on the removed slots' "
        "sockets will be reset; set it to 1 (Linux 5.14+) to migrate them",
        app);
  }
}

bool Listeners::shrink(std::map<unsigned, Generation>& generations, unsigned slots) {
  bool closed = false;
  for (auto& [number, gen] : generations) {
    for (const std::shared_ptr<Listener>& listener : gen.listeners) {
      if (listener->spec.mode != config::ListenMode::ReusePort) continue;
      for (std::size_t i = slots; i < listener->fds.size(); ++i) {
        closed = closed || static_cast<bool>(listener->fds[i]);
      }
      if (listener->fds.size() > slots) listener->fds.resize(slots);
      if (listener->listening.size() > slots) listener->listening.resize(slots);
    }
  }
  return closed;
}

void Listeners::apply_backlogs(Generation& gen) {
  for (auto& [listener, backlog] : gen.new_backlogs) {
    for (const Fd& fd : listener->fds) {
      if (fd) sockets_.listen(fd.get(), backlog);
    }
    listener->spec.backlog = backlog;
  }
  gen.new_backlogs.clear();
}

void Listeners::store_names(const Generation& gen, std::map<std::string, int>& out) {
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    for (std::size_t i = 0; i < listener->fds.size(); ++i) {
      if (listener->fds[i])
        out[listener->spec.name + "/" + std::to_string(i)] = listener->fds[i].get();
    }
  }
}

void Listeners::want(const Generation& gen, unsigned slot, Wanted& wanted) {
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    const std::size_t index = listener->spec.mode == config::ListenMode::Shared ? 0 : slot;
    if (index >= listener->fds.size()) continue;
    std::vector<bool>& on = wanted[listener.get()];
    if (on.size() <= index) on.resize(index + 1);
    on[index] = true;
  }
}

void Listeners::apply(std::map<unsigned, Generation>& generations, const Wanted& wanted) {
  for (auto& [number, gen] : generations) {
    for (const std::shared_ptr<Listener>& listener : gen.listeners) {
      const auto it = wanted.find(listener.get());
      for (std::size_t i = 0; i < listener->fds.size(); ++i) {
        set_listening(*listener, i, it != wanted.end() && i < it->second.size() && it->second[i]);
      }
    }
  }
}

void Listeners::listen_for(const Generation& gen, unsigned slot) {
  for (const std::shared_ptr<Listener>& listener : gen.listeners) {
    const std::size_t index = listener->spec.mode == config::ListenMode::Shared ? 0 : slot;
    if (index < listener->fds.size()) set_listening(*listener, index, true);
  }
}

void Listeners::set_listening(Listener& listener, std::size_t index, bool on) {
  if (!listener.fds[index] || listener.spec.address.family == config::Address::Family::Unix) {
    return;
  }
  if (listener.listening.size() <= index) listener.listening.resize(listener.fds.size());
  Listening& state = listener.listening[index];
  if (state == (on ? Listening::Yes : Listening::No)) return;
  if (on) {
    sockets_.listen(listener.fds[index].get(), listener.spec.backlog);
  } else {
    sockets_.stop_listening(listener.fds[index].get());
  }
  if (state != Listening::Unknown) {
    spdlog::debug("listener {} socket {}: {}", listener.spec.name, index,
                  on ? "listening again" : "not listening: no worker serves it");
  }
  state = on ? Listening::Yes : Listening::No;
}

bool Listeners::created_file(const config::Address& address) const {
  for (const config::Address& a : socket_files_) {
    if (a.family == address.family && a.path == address.path) return true;
  }
  return false;
}

void Listeners::migrate_queues(bool reuseport) {
  if (migrate_checked_ || !reuseport) return;
  migrate_checked_ = true;
  if (machine_.tcp_migrate_req()) return;
  if (const std::string why = machine_.enable_tcp_migrate_req(); !why.empty()) {
    spdlog::warn(
        "net.ipv4.tcp_migrate_req is 0 and cannot be set ({}): connections queued on a socket "
        "whose slot stops serving are reset instead of moving to its peers (docs/reload.md)",
        why);
    return;
  }
  spdlog::info(
      "net.ipv4.tcp_migrate_req set to 1: connections queued on a socket whose slot stops "
      "serving move to its peers instead of being reset");
}

}  // namespace clusterd::daemon

#include "supervisor/loop/name_lookup.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <memory>

#include "supervisor/loop/guard.h"
#include "supervisor/os/process.h"

namespace clusterd::loop {

namespace {

// Every name of `queries` that `names` does not answer, failed with `why`.
void fail_unanswered(const os::NameQueries& queries, const std::string& why,
                     os::ResolvedNames& names) {
  for (const std::string& u : queries.users) {
    if (!names.users.count(u) && !names.failed.count("user " + u)) names.failed["user " + u] = why;
  }
  for (const std::string& g : queries.groups) {
    if (!names.groups.count(g) && !names.failed.count("group " + g)) {
      names.failed["group " + g] = why;
    }
  }
}

// The child: looks everything up, writes the answers to `fd`, exits.
[[noreturn]] void answer_in_child(const os::NameQueries& queries, int fd) {
  const std::string text = os::encode_names(os::lookup_names(queries));
  for (std::size_t sent = 0; sent < text.size();) {
    const ssize_t n = write(fd, text.data() + sent, text.size() - sent);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  _exit(0);
}

struct Lookup {
  asio::posix::stream_descriptor pipe;
  asio::steady_timer timer;
  std::string text;
  char buffer[4096];
  std::function<void(os::ResolvedNames)> done;
  os::NameQueries queries;
  pid_t child;

  // Hands over what arrived (and fails the rest); once.
  void finish(bool timed_out) {
    if (!done) return;
    auto answer = std::move(done);
    done = nullptr;
    timer.cancel();
    os::ResolvedNames names = os::decode_names(text);
    fail_unanswered(queries, timed_out ? "the lookup took longer than 10 s" : "no answer", names);
    guard("name lookup", [&] { answer(std::move(names)); });
  }
};

struct Reader {
  std::shared_ptr<Lookup> lookup;
  void operator()(const std::error_code& ec, std::size_t n) const {
    if (ec) {
      lookup->finish(false);  // end of file: the child is done (or the pipe was closed)
      return;
    }
    lookup->text.append(lookup->buffer, n);
    lookup->pipe.async_read_some(asio::buffer(lookup->buffer), *this);
  }
};

}  // namespace

// The lookups run in a child process, so a slow or hung NSS service (LDAP, sssd) delays only
// the reload that asked, never the loop; after 10 s the child is killed and every name failed.
void lookup_names_async(asio::io_context& io, const os::NameQueries& queries,
                        std::function<void(os::ResolvedNames)> done) {
  if (queries.empty()) {  // nothing to look up: no child process (and no fds) for it
    asio::post(io, [done = std::move(done)] { guard("name lookup", [&] { done({}); }); });
    return;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    os::ResolvedNames failed;
    fail_unanswered(queries, std::strerror(errno), failed);
    asio::post(io, [done, failed] { guard("name lookup", [&] { done(failed); }); });
    return;
  }
  const pid_t child = fork();
  if (child == 0) {
    ::close(fds[0]);
    answer_in_child(queries, fds[1]);
  }
  ::close(fds[1]);
  auto lookup = std::make_shared<Lookup>(Lookup{asio::posix::stream_descriptor(io, fds[0]),
                                                asio::steady_timer(io),
                                                {},
                                                {},
                                                std::move(done),
                                                queries,
                                                child});
  if (child < 0) lookup->pipe.close();
  lookup->timer.expires_after(std::chrono::seconds(10));
  lookup->timer.async_wait([lookup](const std::error_code& ec) {
    if (ec) return;
    if (lookup->child > 0) ::kill(lookup->child, SIGKILL);
    std::error_code ignored;
    lookup->pipe.close(ignored);
    lookup->finish(true);
  });
  lookup->pipe.async_read_some(asio::buffer(lookup->buffer), Reader{lookup});
}

}  // namespace clusterd::loop

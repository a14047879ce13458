// The rehearsal's handshake in a live upgrade (docs/upgrade.md#the-handshake): only an exact line
// of this master's protocol with the digest of the state it sent lets the master exec the new
// binary. The protocol over the fake host, then the OS side with real processes: what a rehearsal
// writes on fd 4 is what the master reads, and only the file that rehearsed is exec'd.
#include "supervisor/daemon/upgrade_handshake.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "daemon_loop.h"
#include "supervisor/os/upgrade.h"

using namespace clusterd;
using test::Loop;
using test::web_config;

namespace {

// A state document as a master of web_config() writes it.
std::string a_document() {
  Loop loop(web_config());
  loop.ready_all();
  loop.request(R"({"cmd":"upgrade","binary":"/new/clusterd"})");
  REQUIRE_FALSE(loop.host.exec_state.empty());
  return loop.host.exec_state;
}

// What check_handshake says of `said` for a document whose digest is `sha256`, or "accepted".
std::string verdict(const std::string& said, const std::string& sha256) {
  try {
    daemon::check_handshake(said, sha256);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "accepted";
}

const std::string kDigest(64, 'a');
const std::string kOurs = std::to_string(daemon::kUpgradeVersion);  // this master's protocol
const std::string kNext = std::to_string(daemon::kUpgradeVersion + 1);
const std::string kOther(64, '0');
std::string line(const std::string& protocol, const std::string& version,
                 const std::string& sha256) {
  return "clusterd-upgrade-handshake protocol=" + protocol + " version=" + version +
         " sha256=" + sha256 + "\n";
}

}  // namespace

TEST_CASE("upgrade handshake: SHA-256 of known texts") {
  CHECK(daemon::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(daemon::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("upgrade handshake: what a clusterd that read the state answers is accepted") {
  const std::string document = a_document();
  const std::string said = daemon::handshake_line(document);
  CHECK(said == line(kOurs, CLUSTERD_VERSION, daemon::sha256_hex(document)));
  const daemon::UpgradeHandshake handshake =
      daemon::check_handshake(said, daemon::sha256_hex(document));
  CHECK(handshake.protocol == daemon::kUpgradeVersion);
  CHECK(handshake.version == CLUSTERD_VERSION);
  CHECK(handshake.sha256 == daemon::sha256_hex(document));
}

TEST_CASE("upgrade handshake: anything but an exact line of this protocol and digest is refused") {
  CHECK(verdict(line(kOurs, "0.2.0", kDigest), kDigest) == "accepted");
  CHECK(verdict("", kDigest) == "no handshake (it exited 0 without writing one)");
  CHECK(verdict(std::string(300, 'x'), kDigest) == "an overlong handshake (more than 256 bytes)");
  CHECK(verdict(std::string(257, '\n'), kDigest) == "an overlong handshake (more than 256 bytes)");
  const std::string good = line(kOurs, "0.2.0", kDigest);
  CHECK(verdict(good.substr(0, good.size() - 1), kDigest) ==
        "a handshake that is not one line: \"" + good.substr(0, 120) + "\"");  // the start
  CHECK_THAT(verdict(good + good, kDigest), Catch::StartsWith("a handshake that is not one line"));
  CHECK_THAT(verdict("ok\n" + good, kDigest),
             Catch::StartsWith("a handshake that is not one line"));
  CHECK(verdict("hello\n", kDigest) == "a malformed handshake: \"hello\"");
  CHECK(verdict("\x1b[2J\n", kDigest) == "a malformed handshake: \"\\x1b[2J\"");
  const std::vector<std::string> malformed = {
      "clusterd-upgrade-handshake protocol=1 version=0.2.0\n",
      "clusterd-upgrade-handshake protocol=1 version=0.2.0 sha256=" + kDigest + " more=1\n",
      "clusterd-upgrade-handshake  protocol=1 version=0.2.0 sha256=" + kDigest + "\n",
      "clusterd-upgrade-handshake protocol=1 version=0.2.0 sha256=" + kDigest + " \n",
      "clusterd-upgrade-handshake protocol=1 version=0.2.0 sha256=" + kDigest + "\r\n",
      "clusterd-handshake protocol=1 version=0.2.0 sha256=" + kDigest + "\n",
      "clusterd-upgrade-handshake version=0.2.0 protocol=1 sha256=" + kDigest + "\n",
      line("", "0.2.0", kDigest),
      line("01", "0.2.0", kDigest),
      line("-1", "0.2.0", kDigest),
      line("+1", "0.2.0", kDigest),
      line("1000000", "0.2.0", kDigest),
      line(kOurs, "", kDigest),
      line(kOurs, "0.2.0;rm", kDigest),
      line(kOurs, std::string(65, '1'), kDigest),
      line(kOurs, "0.2.0", std::string(64, 'A')),
      line(kOurs, "0.2.0", kDigest.substr(1)),
      line(kOurs, "0.2.0", kDigest + "a"),
      line(kOurs, "0.2.0", ""),
  };
  for (const std::string& said : malformed) {
    INFO(said);
    CHECK_THAT(verdict(said, kDigest), Catch::StartsWith("a malformed handshake: \""));
  }
  CHECK(verdict(line(kNext, "0.3.0", kDigest), kDigest) ==
        "it speaks upgrade protocol " + kNext + "; this master speaks " + kOurs);
  CHECK(verdict(line("0", "0.3.0", kDigest), kDigest) ==
        "it speaks upgrade protocol 0; this master speaks " + kOurs);
  CHECK(verdict(line(kOurs, "0.2.0", kOther), kDigest) ==
        "it decoded another state (sha256 0000000000000000..., sent aaaaaaaaaaaaaaaa...)");
}

TEST_CASE("upgrade handshake: a state that does not come back whole is refused") {
  const std::string document = a_document();
  CHECK_NOTHROW(daemon::decode_whole_upgrade_state(document));
  // A field this clusterd does not know: decode_upgrade_state() alone would drop it silently.
  std::string extra = document;
  extra.insert(1, R"("a_later_field":1,)");
  CHECK_NOTHROW(daemon::decode_upgrade_state(extra));
  CHECK_THROWS_WITH(daemon::decode_whole_upgrade_state(extra),
                    Catch::StartsWith("the upgrade state does not come back whole"));
  // The same state written otherwise (a space) is not the document whose digest was sent.
  CHECK_THROWS_WITH(daemon::decode_whole_upgrade_state(" " + document),
                    Catch::StartsWith("the upgrade state does not come back whole"));
}

TEST_CASE("upgrade handshake: the master execs only after a good handshake, the file rehearsed") {
  Loop loop(web_config());
  loop.ready_all();
  const auto refused = [&](const std::string& said) {
    loop.host.rehearsal_handshake = said;
    loop.host.exec_state.clear();
    const std::string error = loop.request(R"({"cmd":"upgrade"})")->last().error;
    CHECK(loop.host.exec_state.empty());  // never exec'd
    CHECK(loop.daemon->upgrades() == 0);
    return error;
  };
  CHECK(refused("") ==
        "upgrade failed: the new binary did not prove it read the state: no handshake (it exited "
        "0 without writing one)");
  CHECK(refused("garbage\n") ==
        "upgrade failed: the new binary did not prove it read the state: a malformed handshake: "
        "\"garbage\"");
  CHECK(refused(std::string(100000, 'x')) ==
        "upgrade failed: the new binary did not prove it read the state: an overlong handshake "
        "(more than 256 bytes)");
  CHECK_THAT(refused(line(kOurs, "0.2.0", kOther)),
             Catch::StartsWith(
                 "upgrade failed: the new binary did not prove it read the state: it decoded "
                 "another state (sha256 0000000000000000..., sent "));
  // The right digest, another protocol.
  const std::string digest = daemon::sha256_hex(loop.host.rehearsed_state);
  CHECK(refused(line(kNext, "0.3.0", digest)) ==
        "upgrade failed: the new binary did not prove it read the state: it speaks upgrade "
        "protocol " +
            kNext + "; this master speaks " + kOurs);
  // The right digest and protocol: exec'd, and told which file rehearsed.
  loop.host.rehearsal_handshake = line(kOurs, "0.3.0", digest);
  loop.request(R"({"cmd":"upgrade"})");
  CHECK(loop.host.exec_state == loop.host.rehearsed_state);
  CHECK(loop.host.exec_identity == loop.host.rehearsed_file);
}

namespace {

// A temporary directory with an executable shell script in it.
struct Scripts {
  std::filesystem::path dir;
  Scripts() {
    std::string pattern = (std::filesystem::temp_directory_path() / "clusterd-hs.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
  }
  ~Scripts() { std::filesystem::remove_all(dir); }
  Scripts(const Scripts&) = delete;
  Scripts& operator=(const Scripts&) = delete;
  std::string write(const std::string& name, const std::string& body) const {
    const std::filesystem::path path = dir / name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path.string();
  }
};

os::FileIdentity identity_at(const std::string& path) {
  const int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st {};
  REQUIRE(fstat(fd, &st) == 0);
  close(fd);
  const auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; };
  return {st.st_dev, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim)};
}

os::Rehearsal rehearse(const std::string& binary) {
  return os::rehearse_upgrade(binary, {"clusterd", "-c", "x.yaml"}, "{}", std::chrono::seconds(20),
                              daemon::kMaxHandshake);
}

}  // namespace

TEST_CASE("upgrade rehearsal: what the new binary writes on fd 4 is what the master reads") {
  const Scripts scripts;
  const std::string silent = scripts.write("silent", "exit 0\n");
  os::Rehearsal r = rehearse(silent);
  CHECK_FALSE(r.failed);
  CHECK(r.handshake.empty());
  CHECK(r.binary == identity_at(silent));

  // It got the state on fd 3 and its command line; it answers on fd 4 and exits 0.
  r = rehearse(scripts.write("answers", R"(read -r state <&3
[ "$state" = "{}" ] && [ "$*" = "-c x.yaml --upgrade-check" ] && printf 'ok %s\n' "$state" >&4
)"));
  CHECK_FALSE(r.failed);
  CHECK(r.handshake == "ok {}\n");

  // An overlong answer is cut just past the limit; the writer is never left blocked.
  r = rehearse(scripts.write("floods", "head -c 1000000 /dev/zero >&4\n"));
  CHECK_FALSE(r.failed);
  CHECK(r.handshake.size() == daemon::kMaxHandshake + 1);

  // A handshake does not make a failure a success.
  r = rehearse(scripts.write("fails", "echo ok >&4; echo 'no good' >&2; exit 1\n"));
  CHECK(r.failed == "exit 1: no good");

  r = rehearse((scripts.dir / "missing").string());
  CHECK(r.failed ==
        "cannot execute " + (scripts.dir / "missing").string() + ": No such file or directory");
}

TEST_CASE("upgrade rehearsal: only the file that rehearsed is exec'd") {
  const Scripts scripts;
  const std::string binary = scripts.dir / "clusterd";
  // It puts another file at its own path while it rehearses: the rehearsal ran the one opened.
  const std::string other = scripts.write("other", "exit 3\n");
  scripts.write("clusterd", "echo rehearsed >&4; mv '" + other + "' '" + binary + "'\n");
  const os::FileIdentity first = identity_at(binary);
  const os::Rehearsal r = rehearse(binary);
  CHECK_FALSE(r.failed);
  CHECK(r.handshake == "rehearsed\n");
  CHECK(r.binary == first);
  CHECK_FALSE(identity_at(binary) == first);
  // The exec refuses the file at the path now: not the one that rehearsed. (Were it exec'd, this
  // test process would end with exit 3.)
  CHECK(os::exec_upgrade(binary, r.binary, {"clusterd"}, "{}", {}) ==
        binary + " is not the file that rehearsed any more (replaced or changed since): retry");

  // Changed in place since its rehearsal (same inode): refused as well.
  const std::string again = scripts.write("again", "exit 3\n");
  const os::FileIdentity before = identity_at(again);
  std::ofstream(again, std::ios::app) << "# changed\n";
  CHECK(os::exec_upgrade(again, before, {"clusterd"}, "{}", {}) ==
        again + " is not the file that rehearsed any more (replaced or changed since): retry");
}

TEST_CASE("upgrade state: read only from a memfd sealed against writes") {
  const Scripts scripts;
  const std::string file = scripts.write("state.json", "{}");
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK_THROWS_WITH(os::read_upgrade_state(fd), Catch::Contains("not a sealed memfd"));
  close(fd);
}

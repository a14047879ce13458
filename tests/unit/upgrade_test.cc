// A live upgrade over the fake host: what the old master hands over, the state document, and the
// new master made of it (docs/upgrade.md). The new master must decide exactly what the old one
// would have: the same lanes, timers at the same deadlines, the rollout going on.
#include <catch2/catch.hpp>
#include <csignal>

#include "daemon_loop.h"
#include "supervisor/daemon/upgrade_state.h"

using namespace clusterd;
using namespace std::chrono_literals;
using test::Loop;
using test::web_config;

namespace {

// Asks `loop`'s master to upgrade; the fake exec fails, so the state is in host.exec_state.
daemon::UpgradeState hand_over(Loop& loop) {
  const auto reply = loop.request(R"({"cmd":"upgrade","binary":"/new/clusterd"})");
  REQUIRE(reply->finished);
  REQUIRE_FALSE(loop.host.exec_state.empty());
  CHECK(loop.host.rehearsed_state == loop.host.exec_state);  // what was rehearsed is what runs
  daemon::UpgradeState state = daemon::decode_upgrade_state(loop.host.exec_state);
  CHECK(loop.host.exec_fds == state.fds());  // exactly what the state names stays open
  return state;
}

// The state with the parts an upgrade itself changes set as in `like`, encoded.
std::string comparable(daemon::UpgradeState state, const daemon::UpgradeState& like) {
  state.upgrades = like.upgrades;
  state.upgraded_at_ms = like.upgraded_at_ms;
  state.reply_fd = like.reply_fd;
  return daemon::encode_upgrade_state(state);
}

const std::string kBusy = web_config("3", "    rollout: { canary_time: 2s }\n");

// Gives the master of kBusy something in every corner: a worker restarted once, one backing off
// after quick deaths, a status text.
void make_busy(Loop& loop) {
  loop.ready_all();
  loop.advance(10s);
  loop.exit(1, core::ExitStatus::signaled(SIGKILL));  // slot 0: replaced, 1 restart
  loop.ready_all();
  loop.notify(2, "STATUS=busy");
  loop.exit(3, core::ExitStatus::exited(1));  // slot 2: a quick death
  loop.advance(200ms);
  loop.ready_all();
  loop.exit(loop.alive().back(), core::ExitStatus::exited(1));  // slot 2 dies again: backoff
}

}  // namespace

TEST_CASE("upgrade: the new master holds exactly what the old one handed over") {
  Loop old(kBusy);
  make_busy(old);
  REQUIRE(old.web().slots[2].current().state() == core::LaneState::Backoff);
  old.host.config_text =
      web_config("3", "    rollout: { canary_time: 2s }\n    env: { V: \"2\" }\n");
  old.request(R"({"cmd":"reload","wait":false})");
  REQUIRE(old.web().rollout);
  const daemon::UpgradeState state = hand_over(old);
  // Without socket adoption, the state names none of its fields: a master that does not know
  // them can still take this one.
  CHECK(old.host.exec_state.find("adopt_fd") == std::string::npos);
  CHECK(old.host.exec_state.find("made_sockets") == std::string::npos);
  CHECK(state.apps.size() == 1);
  CHECK(state.workers.size() == old.alive().size());
  CHECK(state.texts.size() == 2);  // the running config's and the rolled-to one's
  CHECK(state.argv.empty());       // the fake started it with none
  CHECK(old.host.exec_binary == "/new/clusterd");

  Loop adopted(state, old.host.clock);
  CHECK(adopted.host.adopted.size() == state.workers.size());
  CHECK(adopted.host.control_adopted_fd == state.control_fd);
  for (const auto& [handle, worker] : adopted.host.workers) {
    CHECK(worker.request.path.empty());  // adopted, none started
  }
  // Every timer again, at its deadline: backoff, ready_timeout, the canary's.
  for (const daemon::HandedTimer& t : state.timers) {
    REQUIRE(adopted.host.timers.count(t.key) == 1);
    CHECK(adopted.host.timers.at(t.key) == t.deadline);
  }
  // Handed over again at once, the state is the same but for the upgrade's own fields.
  const daemon::UpgradeState again = hand_over(adopted);
  CHECK(comparable(again, state) == daemon::encode_upgrade_state(state));
  CHECK(again.upgrades == 1);
}

TEST_CASE("upgrade: a handed fd that fails its check refuses a take-over, not a take-back") {
  Loop old(web_config());
  old.ready_all();
  const daemon::UpgradeState state = hand_over(old);
  REQUIRE(!state.listeners.empty());
  REQUIRE(!state.listeners[0].fds.empty());
  const int socket = state.listeners[0].fds[0];
  const auto mismatch = [&](test::FakeHost& h) { h.mismatched.insert(socket); };
  // The new binary refuses it whole: the previous one takes the state back.
  CHECK_THROWS_WITH(Loop(state, old.host.clock, mismatch),
                    Catch::Contains("listener http: fd " + std::to_string(socket) +
                                    " is not its socket (not listening)"));
  // The previous binary, taking its own state back, meets the same check: it says so and keeps
  // supervising every worker, rather than exiting and leaving them to nobody.
  daemon::UpgradeState back = state;
  back.taking_back = true;
  Loop kept(back, old.host.clock, mismatch);
  CHECK(kept.host.adopted.size() == state.workers.size());
  CHECK(kept.web().slots[0].current().state() == core::LaneState::Running);
}

TEST_CASE("upgrade: a rollout and a backoff started by the old master finish under the new one") {
  Loop old(kBusy);
  make_busy(old);
  old.host.config_text =
      web_config("3", "    rollout: { canary_time: 2s }\n    env: { V: \"2\" }\n");
  old.request(R"({"cmd":"reload","wait":false})");
  Loop loop(hand_over(old), old.host.clock);
  CHECK(loop.web().restarts_of(0) == 1);  // carried from the old master
  // The backoff runs out: slot 2 starts again; the canary gets ready and waits canary_time.
  loop.advance(5s);
  loop.ready_all();
  loop.advance(3s);
  for (int round = 0; round < 10 && loop.web().rollout; ++round) {
    for (const daemon::WorkerHandle h : loop.alive()) {
      if (loop.signalled(h, SIGTERM)) loop.exit(h, core::ExitStatus::exited(0));
    }
    loop.ready_all();
    loop.advance(1s);
  }
  REQUIRE_FALSE(loop.web().rollout);
  REQUIRE(loop.web().last_rollout);
  CHECK(loop.web().last_rollout->ok);
  for (const core::Slot& slot : loop.web().slots) {
    CHECK(slot.current().state() == core::LaneState::Running);
    CHECK(slot.current().generation() == 2);
  }
}

TEST_CASE("upgrade: after a finished rollout, the idle lanes' old generation is no obstacle") {
  Loop old(web_config());
  old.ready_all();
  old.host.config_text = web_config("2", "    env: { V: \"2\" }\n");
  old.request(R"({"cmd":"reload","wait":false})");
  for (int round = 0; round < 6 && old.web().rollout; ++round) {
    for (const daemon::WorkerHandle h : old.alive()) {
      if (old.signalled(h, SIGTERM)) old.exit(h, core::ExitStatus::exited(0));
    }
    old.ready_all();
  }
  REQUIRE_FALSE(old.web().rollout);
  REQUIRE(old.web().specs.count(1) == 0);  // generation 1 is forgotten, its idle lanes say 1
  CHECK(old.web().slots[0].other().generation() == 1);
  Loop loop(hand_over(old), old.host.clock);
  CHECK(loop.web().slots[0].current().generation() == 2);
}

TEST_CASE("upgrade: status and events say the master was upgraded") {
  Loop old(web_config());
  old.ready_all();
  old.host.wall_ms = 1'800'000'100'000;
  Loop loop(hand_over(old), old.host.clock);
  loop.host.wall_ms = 1'800'000'200'000;
  const auto status = loop.request(R"({"cmd":"status"})")->last();
  REQUIRE(status.status);
  CHECK(status.status->master.upgrades == 1);
  CHECK(status.status->master.upgraded_at_s);
  const auto events = loop.request(R"({"cmd":"events","lines":5})");
  bool upgrade = false;
  for (const std::string& line : events->lines) {
    const control::Reply r = control::decode_reply(line);
    upgrade = upgrade || (r.event && r.event->kind == "upgrade");
  }
  CHECK(upgrade);
  // The workers of the old master are this one's: an exit restarts its slot.
  const daemon::WorkerHandle first = loop.alive().front();
  loop.advance(10s);
  loop.exit(first, core::ExitStatus::signaled(SIGKILL));
  CHECK(loop.alive().size() == 2);
  CHECK(loop.web().restarts_of(0) == 1);
}

TEST_CASE("upgrade: refused while it cannot be done, and the master goes on unchanged") {
  Loop loop(web_config());
  loop.ready_all();
  loop.host.blocker = "worker pid 1001 is between fork and exec";
  auto reply = loop.request(R"({"cmd":"upgrade"})");
  CHECK(reply->last().error == "upgrade failed: worker pid 1001 is between fork and exec; retry");
  CHECK(loop.host.rehearsed_state.empty());
  loop.host.blocker.reset();

  loop.host.rehearsal_refusal = "exit 1: refusing the upgrade state: version 1";
  reply = loop.request(R"({"cmd":"upgrade"})");
  CHECK(reply->last().error ==
        "upgrade failed: the new binary did not accept the state: exit 1: refusing the upgrade "
        "state: version 1");
  CHECK(loop.host.rehearsed_binary == "/usr/sbin/clusterd");  // its own, by default
  CHECK(loop.host.exec_state.empty());
  loop.host.rehearsal_refusal.reset();

  reply = loop.request(R"({"cmd":"upgrade"})");
  CHECK(reply->last().error ==
        "upgrade failed: cannot execute /new/clusterd: No such file or directory");
  CHECK(loop.daemon->upgrades() == 0);

  // --binary runs code as the master: not for an admin by control.admin alone.
  auto as_alice = std::make_shared<test::RecordingReply>();
  control::Peer alice;
  alice.uid = 1000;
  loop.host.controls.begin()->second(
      control::decode_request(R"({"cmd":"upgrade","binary":"/home/alice/x"})"), alice, as_alice);
  CHECK_THAT(as_alice->last().error,
             Catch::StartsWith("upgrade failed: --binary is for root or the daemon's own user"));
  CHECK(loop.host.rehearsed_binary == "/usr/sbin/clusterd");  // /home/alice/x never ran

  loop.daemon->on_signal(SIGTERM);
  reply = loop.request(R"({"cmd":"upgrade"})");
  CHECK(reply->last().error == "upgrade failed: clusterd is stopping");
}

TEST_CASE("upgrade: a state this clusterd cannot read is refused with the reason") {
  Loop loop(web_config());
  loop.ready_all();
  const std::string good = (hand_over(loop), loop.host.exec_state);
  const auto refusal = [](const std::string& text) {
    try {
      daemon::decode_upgrade_state(text);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const std::size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  CHECK(refusal(good) == "accepted");
  CHECK(refusal(replaced("\"version\":2", "\"version\":1")) ==
        "upgrade state version 1 is not the one this clusterd reads (2)");
  CHECK(refusal(replaced("clusterd-upgrade-state", "something-else")) ==
        "not a clusterd upgrade state");
  CHECK_THAT(refusal(good.substr(0, good.size() / 2)),
             Catch::StartsWith("the upgrade state is not JSON"));
  CHECK_THAT(refusal(replaced("\"next_token\"", "\"next_tokens\"")),
             Catch::StartsWith("the upgrade state is incomplete"));
  CHECK_THAT(refusal(replaced("\"state\":2", "\"state\":9")), Catch::Contains("bad state"));
  CHECK_THAT(refusal(replaced("ready: notify", "ready: [")),
             Catch::StartsWith("the running config does not parse"));
  CHECK(refusal(replaced("\"slot\":[0,", "\"slot\":[7,")) == "a worker of no slot");
}

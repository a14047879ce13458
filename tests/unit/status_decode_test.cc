// reply_status (the status decoded as it is parsed, for the table) against decode_reply (the
// document, then the snapshot): the same snapshot for every reply it takes, and it takes no reply
// decode_reply refuses.
#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/control/protocol.h"
#include "supervisor/control/status_table.h"

using namespace clusterd::control;

namespace {

using ojson = nlohmann::ordered_json;

// Every field of a snapshot, as text: the JSON of it written with detail (every field), and
// whether it was decoded as a detailed one.
std::string everything(StatusSnapshot s) {
  const bool detail = s.detail;
  s.detail = true;
  return status_json(s) + (detail ? "\ndetail" : "\nplain");
}

WorkerStatus worker(unsigned id, bool bad) {
  WorkerStatus w;
  w.id = id;
  w.pid = bad ? 0 : 31000 + static_cast<int>(id);
  w.state = bad ? "backoff" : "running";
  w.generation = 3;
  w.uptime_s = 86399.123;
  w.restarts = bad ? 7 : 0;
  w.threads = 4;
  w.rss_kb = 123456;
  w.cpu_percent = 12.34;
  w.cpus = "0-63";
  w.processes = 2;
  w.tree_threads = 9;
  w.last_exit = bad ? "signal SIGKILL" : "";
  w.last_words = bad ? "panic: \"out of \\ memory\"\t\xc3\xa9" : "";
  w.status_text = id % 2 ? "serving \x1b[31m red" : "";
  w.pss_kb = bad ? -1 : 2048;
  w.uss_kb = 1024;
  w.fds = bad ? -1 : 12;
  w.cpu_user_s = 1.5;
  w.cpu_system_s = 0.25;
  w.tree_cpu_user_s = bad ? -1 : 3.5;
  w.tree_cpu_system_s = 0.5;
  if (id == 1) w.queues = {{"own", 3, 128}};
  w.cgroup = "/sys/fs/cgroup/c/workers/web/" + std::to_string(id);
  return w;
}

// A status as the master writes it: two apps, one rolling out with adopted sockets, queues and
// a watch, workers running and backing off; the master once upgraded.
StatusSnapshot realistic(bool detail) {
  StatusSnapshot s;
  s.detail = detail;
  s.master = {4242,
              1,
              8456,
              3600.5,
              "/etc/clusterd.yaml",
              "0.1.0",
              31,
              1.25,
              0.75,
              1796672780.659,
              2,
              1796670000.5,
              "per-worker cgroups under /sys/fs/cgroup/c"};
  AppStatus web;
  web.name = "web";
  web.instances = 3;
  web.instances_reason = "3: set in config";
  web.ready = 2;
  web.generation = 3;
  web.logs = "capture";
  web.log_dropped_bytes = 99;
  web.queues = {{"http", 0, 511}, {"admin", 2, 16}};
  web.rollout = "canary";
  web.next_restart = "2026-12-08 03:00";
  web.watching = 12;
  web.watch_pending = true;
  web.adopted = {"127.0.0.1:8080", "[::1]:8080"};
  for (unsigned i = 0; i < 3; ++i) web.workers.push_back(worker(i, i == 2));
  AppStatus jobs;
  jobs.name = "jobs";
  jobs.stopped = true;
  jobs.logs = "journal";
  jobs.workers.push_back(worker(0, false));
  s.apps = {web, jobs};
  s.totals = {6, 22};
  return s;
}

// The outcome of each decoder: the snapshot as text, or nullopt (an error / giving up).
std::optional<std::string> old_way(const std::string& line) {
  try {
    const Reply reply = decode_reply(line);
    if (!reply.ok || !reply.status) return std::nullopt;
    return everything(*reply.status);
  } catch (const ProtocolError&) {
    return std::nullopt;
  }
}

// Calls `visit` with every value of `doc` (a pointer into it), depth first.
void each_value(ojson& doc, const std::function<void(ojson&)>& visit) {
  visit(doc);
  if (doc.is_structured()) {
    for (auto& child : doc) each_value(child, visit);
  }
}

}  // namespace

TEST_CASE("the status decoded as it is parsed is the one decode_reply gives, table and all") {
  for (const bool detail : {false, true}) {
    const std::string line = encode_status(realistic(detail)).text;
    const std::optional<StatusSnapshot> fast = reply_status(line);
    REQUIRE(fast);
    const Reply reply = decode_reply(line);
    REQUIRE(reply.status);
    CHECK(everything(*fast) == everything(*reply.status));
    CHECK(fast->detail == detail);
    for (const bool colour : {false, true}) {
      CHECK(status_table(*fast, {colour, detail}) == status_table(*reply.status, {colour, detail}));
    }
  }
  // The keys in another order, unknown keys and containers anywhere: the same.
  ojson doc = ojson::parse(encode_status(realistic(true)).text);
  doc["status"]["future"] = {{"a", {1, {{"b", nullptr}}}}};
  doc["status"]["apps"][0]["workers"][1]["new_field"] = ojson::array({ojson::object()});
  doc["status"]["apps"][1]["adopted"] = {"x", 5, {{"y", 1}}, ojson::array()};
  doc["trailer"] = "t";
  const std::string shuffled =
      R"({"trailer":[{}],"status":)" + doc["status"].dump() + R"(,"message":null,"ok":true,"v":1})";
  REQUIRE(reply_status(shuffled));
  CHECK(everything(*reply_status(shuffled)) == old_way(shuffled));
}

TEST_CASE(
    "the status decoder takes no reply that decode_reply refuses, and never a different one") {
  for (const std::string& line :
       {encode_error("no app named 'x'").text, encode_done("done").text, encode_version("1").text,
        encode_progress("1/3").text, std::string(""), std::string("[]"), std::string("5"),
        std::string("{not json"), std::string(R"({"v":1,"ok":true})"),
        std::string(R"({"v":1,"ok":true,"status":{}})"),
        std::string(R"({"ok":true,"status":{"master":{},"apps":[],"totals":{}}})"),
        encode_status(realistic(false)).text + "x"}) {
    INFO(line);
    CHECK_FALSE(reply_status(line));
  }
  // A line that more lines follow is not a status reply's last, whatever it holds.
  for (const std::string& line :
       {std::string(
            R"({"v":1,"ok":true,"progress":"1/3","status":{"master":{},"apps":[],"totals":{}}})"),
        std::string(
            R"({"v":1,"ok":true,"status":{"master":{},"apps":[],"totals":{}},"log":{}})")}) {
    INFO(line);
    CHECK_FALSE(reply_status(line));
    CHECK_FALSE(reply_status_json(line));
  }
  CHECK(reply_status(R"({"v":1,"ok":true,"status":{"master":{},"apps":[],"totals":{}}})"));
  // Every value of a realistic reply replaced by each of these in turn, and every key removed or
  // written twice: where the decoder takes the reply, decode_reply takes it and gives the same.
  const std::vector<ojson> replacements = {nullptr,
                                           true,
                                           false,
                                           -1,
                                           0,
                                           7,
                                           1.5,
                                           1e300,
                                           4294967296ULL,
                                           -2147483649LL,
                                           18446744073709551615ULL,
                                           "",
                                           "text",
                                           ojson::array(),
                                           ojson::array({1, "a"}),
                                           ojson::object(),
                                           ojson::object({{"a", 1}}),
                                           ojson::array({ojson::object()})};
  const ojson original = ojson::parse(encode_status(realistic(true)).text);
  std::size_t paths = 0;
  ojson counted = original;
  each_value(counted, [&](ojson&) { ++paths; });
  std::size_t taken = 0, tried = 0;
  for (std::size_t target = 1; target < paths; ++target) {
    const auto mutate = [&](const std::function<void(ojson&, ojson*)>& change) {
      ojson doc = original;
      std::size_t at = 0;
      ojson* parent = nullptr;
      ojson* hit = nullptr;
      ojson* hit_parent = nullptr;
      std::function<void(ojson&)> walk = [&](ojson& v) {
        if (at++ == target) {
          hit = &v;
          hit_parent = parent;
        }
        if (!v.is_structured()) return;
        ojson* saved = parent;
        parent = &v;
        for (auto& child : v) walk(child);
        parent = saved;
      };
      walk(doc);
      REQUIRE(hit);
      change(*hit, hit_parent);
      return doc.dump(-1, ' ', false, ojson::error_handler_t::replace);
    };
    std::vector<std::string> lines;
    for (const ojson& r : replacements) lines.push_back(mutate([&](ojson& v, ojson*) { v = r; }));
    // The key of the value removed, or moved to the end with null.
    const auto key_edit = [&](bool twice) {
      return mutate([&](ojson& v, ojson* parent) {
        if (parent == nullptr || !parent->is_object()) return;
        for (auto it = parent->begin(); it != parent->end(); ++it) {
          if (&*it != &v) continue;
          const std::string key = it.key();
          if (twice) {
            parent->erase(key);
            (*parent)[key] = nullptr;
          } else {
            parent->erase(key);
          }
          return;
        }
      });
    };
    lines.push_back(key_edit(false));
    lines.push_back(key_edit(true));
    for (const std::string& line : lines) {
      ++tried;
      INFO(line);
      const std::optional<StatusSnapshot> fast = reply_status(line);
      const std::optional<std::string> slow = old_way(line);
      if (!slow) CHECK_FALSE(fast);
      if (fast) {
        ++taken;
        CHECK(everything(*fast) == slow);
      }
    }
  }
  // Most edits (nulls, keys of no interest, other types where decode_reply ignores them) are
  // taken; the check above was made on them.
  CHECK(taken > tried / 4);
  CHECK(taken < tried);
}

TEST_CASE("a key written twice makes the decoder give up (the document keeps the last value)") {
  const std::string line = encode_status(realistic(false)).text;
  std::string twice = line;
  twice.replace(twice.find(R"("threads":1,)"), 12, R"("threads":"x","threads":1,)");
  CHECK(old_way(twice));  // the document keeps the 1
  CHECK_FALSE(reply_status(twice));
}

#include "supervisor/logging.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace clusterd {

namespace {

// journald reads our stderr when JOURNAL_STREAM names the very file stderr is ("dev:inode").
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) &&
         ino == static_cast<unsigned long long>(st.st_ino);
}

// Lines for journald: an sd-daemon "<N>" priority prefix and no timestamp (journald adds its
// own), so `journalctl -p warning` works.
class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fprintf(stderr, "<%d>%.*s", priority(msg.level), static_cast<int>(formatted.size()),
                 formatted.data());
  }
  void flush_() override { std::fflush(stderr); }

 private:
  static int priority(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return 7;
      case spdlog::level::info:
        return 6;
      case spdlog::level::warn:
        return 4;
      case spdlog::level::err:
        return 3;
      case spdlog::level::critical:
        return 2;
      case spdlog::level::off:
      case spdlog::level::n_levels:
        break;
    }
    return 6;
  }
};

}  // namespace

void setup_logging(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level +
                                "'; expected trace, debug, info, warn, error or off");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    logger = std::make_shared<spdlog::logger>("clusterd", std::make_shared<JournalSink>());
    logger->set_pattern("%v");
  } else {
    logger = spdlog::stderr_logger_st("clusterd");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace clusterd

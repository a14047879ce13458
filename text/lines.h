// A byte stream cut into lines: a worker's stdout or stderr as the master reads it, in pieces of
// any size. Memory is bounded by line_max whatever the worker writes (no newline at all, binary,
// megabytes in one line): a longer line is passed on in pieces of line_max, each marked as cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace clusterd {

class LineSplitter {
 public:
  explicit LineSplitter(std::size_t line_max) : line_max_(line_max == 0 ? 1 : line_max) {}

  /// Feeds bytes; calls emit(std::string_view line, bool cut) for each line completed by them
  /// (without its newline). `cut`: the line goes on in the next piece.
  template <class Emit>
  void feed(std::string_view bytes, Emit&& emit) {
    while (!bytes.empty()) {
      const std::size_t newline = bytes.find('\n');
      const std::size_t take = newline == std::string_view::npos ? bytes.size() : newline;
      const std::size_t room = line_max_ - partial_.size();  // the held part is <= line_max
      if (take > room) {  // the line goes on past the limit: a cut piece of line_max
        out(bytes.substr(0, room), true, emit);
        bytes.remove_prefix(room);
      } else if (newline == std::string_view::npos) {
        partial_.append(bytes);  // may fill line_max exactly: held until the next byte says
        return;
      } else {
        out(bytes.substr(0, take), false, emit);
        bytes.remove_prefix(take + 1);
      }
    }
  }

  /// The end of the stream: the unterminated rest, if any, as a last line.
  template <class Emit>
  void finish(Emit&& emit) {
    if (!partial_.empty()) emit(std::string_view(partial_), false);
    partial_.clear();
  }

  std::size_t held() const { return partial_.size(); }

 private:
  // The held part of the line followed by `rest`, passed on; nothing is held afterwards.
  template <class Emit>
  void out(std::string_view rest, bool cut, Emit& emit) {
    if (partial_.empty()) {
      emit(rest, cut);
      return;
    }
    partial_.append(rest);
    emit(std::string_view(partial_), cut);
    partial_.clear();
  }

  std::string partial_;
  std::size_t line_max_;
};

}  // namespace clusterd

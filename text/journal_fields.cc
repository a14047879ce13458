#include "text/journal_fields.h"

#include <cstdint>

namespace clusterd {

void add_journal_field(std::string& entry, std::string_view name, std::string_view value) {
  entry.append(name);
  if (value.find('\n') == std::string_view::npos) {
    entry.push_back('=');
    entry.append(value);
  } else {
    entry.push_back('\n');
    std::uint64_t size = value.size();
    for (int i = 0; i < 8; ++i) {
      entry.push_back(static_cast<char>(size & 0xff));
      size >>= 8;
    }
    entry.append(value);
  }
  entry.push_back('\n');
}

}  // namespace clusterd

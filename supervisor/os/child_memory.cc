// The memory a starting child runs in (process.h: ChildMemory), and the few kept for the next.
#include <sys/mman.h>

#include <cerrno>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include "supervisor/os/process.h"

namespace clusterd::os {

namespace {
constexpr std::size_t kPageSize = 4096;
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Mappings of children that have exec'd or exited, kept for the next ones: no mmap, mprotect and
// munmap per spawn, and their pages are already there (no faults while the plan is written and
// the child runs on its stack). In a burst the caller hands a child's memory back as soon as the
// child has exec'd (spawn_report()), a few spawns later, so a handful of mappings serve a burst of
// any size; 16 leave room for children that wait for a CPU. Once the burst is over they are
// unmapped (release_spare_child_memory()).
struct MemoryPool {
  static constexpr std::size_t kKept = 16;
  std::mutex mutex;
  std::vector<std::pair<char*, std::size_t>> free;
};
MemoryPool& memory_pool() {
  static MemoryPool* pool = new MemoryPool;  // never freed: a ChildMemory may outlive statics
  return *pool;
}

}  // namespace

//   [guard page, PROT_NONE][stack, grows down towards the guard][ChildPlan, argv, env, ...]
ChildMemory::ChildMemory(std::size_t data_bytes)
    : size_(kPageSize + ChildMemory::kStackSize + round_up(data_bytes, kPageSize)) {
  {
    MemoryPool& pool = memory_pool();
    const std::lock_guard<std::mutex> lock(pool.mutex);
    for (auto it = pool.free.begin(); it != pool.free.end(); ++it) {
      if (it->second >= size_ && it->second <= 4 * size_) {
        base_ = it->first;
        size_ = it->second;
        pool.free.erase(it);
        return;
      }
    }
  }
  void* base =
      mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
  if (mprotect(base, kPageSize, PROT_NONE) != 0) {
    const int error = errno;
    munmap(base, size_);
    throw std::system_error(error, std::system_category(), "mprotect");
  }
  base_ = static_cast<char*>(base);
}

ChildMemory& ChildMemory::operator=(ChildMemory&& other) noexcept {
  if (this != &other) {
    reset();
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

// Called once the child has exec'd or exited: nothing runs in the mapping any more.
void ChildMemory::reset() {
  if (base_ == nullptr) return;
  MemoryPool& pool = memory_pool();
  {
    const std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.free.size() < MemoryPool::kKept) {
      pool.free.emplace_back(base_, size_);
      base_ = nullptr;
    }
  }
  if (base_ != nullptr) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

void release_spare_child_memory() {
  std::vector<std::pair<char*, std::size_t>> spare;
  {
    MemoryPool& pool = memory_pool();
    const std::lock_guard<std::mutex> lock(pool.mutex);
    spare.swap(pool.free);
  }
  for (const auto& [base, size] : spare) munmap(base, size);
}

char* ChildMemory::stack_top() const { return base_ + kPageSize + ChildMemory::kStackSize; }

}  // namespace clusterd::os

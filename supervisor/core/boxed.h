// Boxed<T>: an optional T kept on the heap, with std::optional's value semantics (a copy copies
// the T, == compares it) and its interface (bool, *, ->, = value, = std::nullopt). For a large
// member that is seldom set, of a type there are thousands of: a slot's last exits (an ExitStatus
// is 80 bytes, three a slot, set only once a worker has ended) cost 8 bytes each until then.
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace clusterd::core {

template <typename T>
class Boxed {
 public:
  Boxed() = default;
  // Implicit, as std::optional's: `Boxed<T> b = value;`, `= std::nullopt`.
  Boxed(std::nullopt_t) {}
  Boxed(T value) : p_(std::make_unique<T>(std::move(value))) {}
  Boxed(const Boxed& other) : p_(other.p_ ? std::make_unique<T>(*other.p_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& other) {
    if (this != &other) p_ = other.p_ ? std::make_unique<T>(*other.p_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(T value) {
    if (p_) {
      *p_ = std::move(value);
    } else {
      p_ = std::make_unique<T>(std::move(value));
    }
    return *this;
  }
  Boxed& operator=(std::nullopt_t) {
    p_.reset();
    return *this;
  }

  explicit operator bool() const { return p_ != nullptr; }
  bool has_value() const { return p_ != nullptr; }
  const T& operator*() const { return *p_; }
  T& operator*() { return *p_; }
  const T* operator->() const { return p_.get(); }
  T* operator->() { return p_.get(); }
  /// The value, or null.
  const T* get() const { return p_.get(); }
  void reset() { p_.reset(); }

  friend bool operator==(const Boxed& a, const Boxed& b) {
    return a.p_ ? b.p_ && *a.p_ == *b.p_ : !b.p_;
  }

 private:
  std::unique_ptr<T> p_;
};

}  // namespace clusterd::core

// Overloaded{lambdas...}: one visitor made of several lambdas, for std::visit over the core's
// variants (events, actions, decisions).
#pragma once

namespace clusterd::core {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace clusterd::core

// core: the interrupt flag (moe/core/interrupt.hpp). A lock-free std::atomic<int> is the only
// state, so the functions may be called from a signal handler.
#include "moe/core/interrupt.hpp"

#include <atomic>

namespace moe {

namespace {
std::atomic<int> g_interrupt{0};
static_assert(std::atomic<int>::is_always_lock_free, "the interrupt flag must be lock-free to be signal-safe");
} // namespace

void request_interrupt() noexcept { g_interrupt.store(1, std::memory_order_relaxed); }
bool interrupt_requested() noexcept { return g_interrupt.load(std::memory_order_relaxed) != 0; }
void clear_interrupt() noexcept { g_interrupt.store(0, std::memory_order_relaxed); }

} // namespace moe

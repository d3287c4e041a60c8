// moe/core/interrupt.hpp — a process-wide "stop requested" flag that the library polls.
//
// An app's SIGINT / SIGTERM handler calls request_interrupt(); long-running library loops
// (the trainer after each optimizer step) check interrupt_requested(), write a checkpoint and
// throw moe::Error(ErrorCode::interrupted, ...). The library never installs handlers itself.
// All three functions are lock-free atomic operations and async-signal-safe.
#pragma once

namespace moe {

void request_interrupt() noexcept;   // set the flag (callable from a signal handler)
bool interrupt_requested() noexcept; // has a stop been requested since the last clear?
void clear_interrupt() noexcept;     // reset the flag (tests, or before a new run in-process)

} // namespace moe

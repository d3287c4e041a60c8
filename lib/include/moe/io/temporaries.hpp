// moe/io/temporaries.hpp — the temporary files outputs are written to before their rename:
// their names, the removal of those left by killed processes (--resume), and the
// async-signal-safe removal of this process's live ones when it exits at once.
#pragma once
#include <string>

namespace moe::io {

// The temporary file a writer for final_path uses: "<final_path>.tmp-<pid>" (for tests and messages).
std::string temp_path_for(const std::string & final_path);

// Removes the temporary files of writers that died (kill -9 during a write): "<out>.tmp-<pid>" and
// "<out>.ckpt.tmp-<pid>" whose process no longer exists; each removal is logged (info). Called by
// --resume, which owns these names; other processes' live temporaries are left alone.
void remove_stale_temporaries(const std::string & out_path);

// Unlinks the temporary files RunWriter and write_text_atomic are writing at this moment, with
// async-signal-safe calls only: for a process that exits at once (a second SIGINT), so that no
// OUT.tmp-PID is left behind. The finished files and checkpoints already in place are untouched.
void remove_live_temporaries() noexcept;

} // namespace moe::io

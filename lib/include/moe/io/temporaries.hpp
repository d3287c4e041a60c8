// moe/io/temporaries.hpp — the temporary files outputs are written to before their rename:
// their names, the removal of those left by killed processes (--resume), and the
// async-signal-safe removal of this process's live ones when it exits at once.
#pragma once
#include <string>
#include <vector>

namespace moe::io {

// A new name for a temporary file of final_path, in its directory: "<final_path>.tmp-<pid>-<16
// random hex digits>". Every call gives another name that no other user can guess, so nobody can
// plant a link there beforehand; writers create it with O_EXCL | O_NOFOLLOW all the same.
std::string temp_path_for(const std::string & final_path);

// The temporary files of final_path that exist now, of any process ("<final_path>.tmp-<pid>" and
// "<final_path>.tmp-<pid>-<hex>"; the checkpoint's are those of "<final_path>.ckpt"), sorted; for
// tests and checks that nothing was left behind.
std::vector<std::string> temporaries_of(const std::string & final_path);

// Removes the temporary files of writers that died (kill -9 during a write): regular files named
// "<out>.tmp-<pid>[-<hex>]" and "<out>.ckpt.tmp-<pid>[-<hex>]" whose process no longer exists; each
// removal is logged (info). Called by --resume, which owns these names; other processes' live
// temporaries, and anything that is not a regular file (a planted link), are left alone.
void remove_stale_temporaries(const std::string & out_path);

// Unlinks the temporary files RunWriter and write_text_atomic are writing at this moment (and the
// lock files of io::OutputLock held now), with async-signal-safe calls only: for a process that
// exits at once (a second SIGINT), so that no OUT.tmp-PID-... is left behind. The finished files
// and checkpoints already in place are untouched.
void remove_live_temporaries() noexcept;

} // namespace moe::io

// moe/io/run_file.hpp — the run file and the output helpers in one include: RunWriter,
// RunReader (layout and format constants in run_format.hpp), the temporaries' names and
// cleanup, and the output checks and atomic text writer.
#pragma once
#include "moe/io/outputs.hpp"
#include "moe/io/run_format.hpp"
#include "moe/io/run_reader.hpp"
#include "moe/io/run_writer.hpp"
#include "moe/io/temporaries.hpp"

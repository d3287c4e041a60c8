// apps: the processes of a data-parallel run (see processes.hpp).
#include "processes.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cli_common.hpp"
#include "moe/core/log.hpp"
#ifdef MOE_HAVE_MPI
#include "moe/mpi/communicator.hpp"
#endif

namespace moe::apps {

Processes::Processes(int * argc, char *** argv) {
#ifdef MOE_HAVE_MPI
    if (mpi::launched()) {
        const char * t = std::getenv("MOE_MPI_TIMEOUT");
        comm_ = std::make_unique<mpi::MpiCommunicator>(argc, argv, t && *t ? std::atof(t) : 60.0);
    }
#endif
}

Processes::~Processes() = default;

void Processes::quiet_other_ranks() const {
    if (rank0()) return;
    const std::string who = comm_->who();
    report_errors_as_other_rank(who);
    set_log_callback([who](LogLevel lvl, std::string_view msg) {
        if (lvl != LogLevel::error) return;
        const bool named = msg.starts_with("rank ");
        std::fprintf(stderr, "error: %s%.*s\n", named ? "" : who.c_str(), (int)msg.size(), msg.data());
    });
}

std::string Processes::launcher() const {
    return comm_ && comm_->size() > 1 ? "mpirun -np " + std::to_string(comm_->size()) + " " : "";
}

int Processes::finish(int rc) {
#ifdef MOE_HAVE_MPI
    // (an error every process meets alike is rank 0's to print: aborting here could end rank 0
    // before it does, so this process finishes and rank 0 ends the job)
    if (comm_ && comm_->size() > 1 && rc != 0 && rc != 130 && !error_left_to_rank0()) {
        std::fflush(stdout);
        std::fflush(stderr);
        static_cast<mpi::MpiCommunicator &>(*comm_).abort(rc);
    }
#endif
    return rc;
}

} // namespace moe::apps

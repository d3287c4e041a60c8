// moe-train: the processes of a data-parallel run (see processes.hpp).
#include "processes.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

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
    set_log_callback([](LogLevel lvl, std::string_view msg) {
        if (lvl == LogLevel::error) std::fprintf(stderr, "error: %.*s\n", (int)msg.size(), msg.data());
    });
}

std::string Processes::launcher() const {
    return comm_ && comm_->size() > 1 ? "mpirun -np " + std::to_string(comm_->size()) + " " : "";
}

int Processes::finish(int rc) {
#ifdef MOE_HAVE_MPI
    if (comm_ && comm_->size() > 1 && rc != 0 && rc != 130) {
        std::fflush(stdout);
        std::fflush(stderr);
        static_cast<mpi::MpiCommunicator &>(*comm_).abort(rc);
    }
#endif
    return rc;
}

} // namespace moe::apps

// moe/mpi/communicator.hpp — train::Communicator over MPI (target moe_mpi, built only when CMake
// finds an MPI; docs/distributed.md). The C API only; mpi.h stays inside lib/src/mpi/.
//
// Every operation is non-blocking underneath and polled against a deadline, with errors
// returned (MPI_ERRORS_RETURN) instead of aborting: a peer that fails or does not answer within
// the timeout becomes a moe::Error (ErrorCode::io) naming that rank. The app then ends every
// process with abort() (MPI_Abort), since the others may wait on it for ever.
#pragma once
#include <memory>

#include "moe/train/communicator.hpp"

namespace moe::mpi {

// True when a launcher started this process as part of an MPI job (Open MPI's mpirun / mpiexec,
// MPICH's hydra, Slurm's srun --mpi=pmix): its environment names a rank.
bool launched();

class MpiCommunicator final : public train::Communicator {
  public:
    // MPI_Init (MPI_THREAD_FUNNELED: OpenBLAS's threads never call MPI); timeout_s bounds every
    // wait on a peer. MPI_Finalize in the destructor.
    MpiCommunicator(int * argc, char *** argv, double timeout_s);
    ~MpiCommunicator() override;
    MpiCommunicator(const MpiCommunicator &) = delete;
    MpiCommunicator & operator=(const MpiCommunicator &) = delete;
    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void exchange(const void * send, int to, void * recv, int from, size_t bytes) override;
    void broadcast(void * buf, size_t bytes, int root) override;
    void sum_exact(std::span<int64_t> v) override;
    // Ends every process of the job with this exit code (MPI_Abort); does not return.
    [[noreturn]] void abort(int code);

  private:
    int rank_ = 0, size_ = 1;
    double timeout_s_ = 60;
    struct Buffers; // requests and gather space, sized once (a step allocates nothing)
    std::unique_ptr<Buffers> buf_;
};

} // namespace moe::mpi

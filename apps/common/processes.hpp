// apps: the processes of a data-parallel run of moe-train or moe-expand (docs/distributed.md).
// Under mpirun (a build with MPI) this process is one rank of the job; otherwise it is alone and
// nothing changes.
#pragma once
#include <memory>
#include <string>

#include "moe/train/communicator.hpp"

namespace moe::apps {

class Processes {
  public:
    // MPI_Init when a launcher started this process (MOE_MPI_TIMEOUT: the wait on a peer, s).
    Processes(int * argc, char *** argv);
    ~Processes();
    train::Communicator * comm() const { return comm_.get(); } // null: one process
    bool rank0() const { return !comm_ || comm_->rank() == 0; }
    // The ranks but 0 print only their errors (rank 0 reports progress and warnings), and of those
    // only the ones rank 0 does not meet alike (a bad spec or an interrupt is rank 0's to report),
    // naming the rank once.
    void quiet_other_ranks() const;
    // "mpirun -np N " when there are several processes (the resume command's prefix).
    std::string launcher() const;
    // The exit code: after a failure on one process of several, the whole job ends with it
    // (MPI_Abort), since the others may be waiting on it; an interrupt stops every process at
    // the same step, so they all finish normally (130). An error left to rank 0 (a bad spec, met
    // by every process) does not abort here: rank 0 prints it and ends the job.
    int finish(int rc);

  private:
    std::unique_ptr<train::Communicator> comm_;
};

} // namespace moe::apps

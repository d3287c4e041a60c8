// mpi: train::Communicator over MPI's C API (see moe/mpi/communicator.hpp). Compiled into
// moe_mpi only when CMake finds an MPI.
#include "moe/mpi/communicator.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "moe/core/error.hpp"

namespace moe::mpi {

namespace {

std::string mpi_error(int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
    return std::string(msg, len);
}

} // namespace

bool launched() {
    for (const char * v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
        if (std::getenv(v)) return true;
    return false;
}

struct MpiCommunicator::Buffers {
    std::vector<MPI_Request> req;
    std::vector<int> peer;
    std::vector<int64_t> gather; // grown to the largest sum_exact (then reused)
};

MpiCommunicator::MpiCommunicator(int * argc, char *** argv, double timeout_s)
    : timeout_s_(timeout_s), buf_(std::make_unique<Buffers>()) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    buf_->req.assign(size_, MPI_REQUEST_NULL);
    buf_->peer.assign(size_, -1);
}

MpiCommunicator::~MpiCommunicator() { MPI_Finalize(); }

void MpiCommunicator::abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code); // (MPI_Abort does not return; this only satisfies [[noreturn]])
}

namespace {

// Polls the n requests (req[i] a message from or to rank peer[i]) until all are complete; past
// the deadline (or on an error) throws naming the ranks still outstanding and what was waited
// for. Spins briefly, then yields and sleeps, so the ranks sharing cores with a slow peer leave
// it the CPU.
void wait_all(MPI_Request * req, const int * peer, int n, double timeout_s, int me, int size, const char * what) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const auto limit = std::chrono::duration<double>(timeout_s);
    const std::string self = "rank " + std::to_string(me) + " of " + std::to_string(size) + ": ";
    auto outstanding = [&] {
        std::string who;
        int count = 0;
        for (int i = 0; i < n; ++i)
            if (req[i] != MPI_REQUEST_NULL) { who += (count++ ? ", " : "") + std::to_string(peer[i]); }
        return (count > 1 ? "ranks " : "rank ") + who;
    };
    for (long spin = 0;; ++spin) {
        bool done = true;
        for (int i = 0; i < n; ++i) {
            if (req[i] == MPI_REQUEST_NULL) continue;
            int flag = 0;
            const int rc = MPI_Test(&req[i], &flag, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS)
                throw Error(ErrorCode::io, self + what + " with rank " + std::to_string(peer[i]) +
                                               " failed (did it die?): " + mpi_error(rc));
            done &= flag != 0;
        }
        if (done) return;
        if (spin < 2000) continue;
        if (Clock::now() - t0 > limit)
            throw Error(ErrorCode::io,
                        self + outstanding() + " did not answer within " + std::to_string((int)timeout_s) + " s (" +
                            what + "): it died, hangs or was stopped",
                        {"MOE_MPI_TIMEOUT sets the wait in seconds (docs/distributed.md)"});
        if (spin < 20000)
            std::this_thread::yield();
        else
            std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
}

// Messages above 1 GiB go in pieces (MPI counts are int).
constexpr size_t kPiece = size_t(1) << 30;
constexpr int kTagExchange = 7, kTagBroadcast = 8, kTagSum = 9;

} // namespace

void MpiCommunicator::exchange(const void * send, int to, void * recv, int from, size_t bytes) {
    size_t off = 0;
    do {
        const int n = (int)std::min(kPiece, bytes - off);
        MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
        int peer[2] = {-1, -1}, nr = 0;
        if (from >= 0) {
            MPI_Irecv((char *)recv + off, n, MPI_BYTE, from, kTagExchange, MPI_COMM_WORLD, &req[nr]);
            peer[nr++] = from;
        }
        if (to >= 0) {
            MPI_Isend((const char *)send + off, n, MPI_BYTE, to, kTagExchange, MPI_COMM_WORLD, &req[nr]);
            peer[nr++] = to;
        }
        wait_all(req, peer, nr, timeout_s_, rank_, size_, "a shard exchange");
        off += kPiece;
    } while (off < bytes);
}

// Point to point from the root (every wait has a known peer to name; np is small)
void MpiCommunicator::broadcast(void * buf, size_t bytes, int root) {
    auto & req = buf_->req;
    auto & peer = buf_->peer;
    for (size_t off = 0; off < bytes; off += kPiece) {
        const int n = (int)std::min(kPiece, bytes - off);
        int nr = 0;
        if (rank_ == root) {
            for (int r = 0; r < size_; ++r)
                if (r != root) {
                    MPI_Isend((char *)buf + off, n, MPI_BYTE, r, kTagBroadcast, MPI_COMM_WORLD, &req[nr]);
                    peer[nr++] = r;
                }
        } else {
            MPI_Irecv((char *)buf + off, n, MPI_BYTE, root, kTagBroadcast, MPI_COMM_WORLD, &req[nr]);
            peer[nr++] = root;
        }
        wait_all(req.data(), peer.data(), nr, timeout_s_, rank_, size_, "a broadcast from rank 0");
    }
}

// Gathered on rank 0, summed there in rank order, sent back (integers: any order is exact)
void MpiCommunicator::sum_exact(std::span<int64_t> v) {
    if (v.empty()) return;
    const int n = (int)v.size();
    if (rank_ == 0) {
        auto & all = buf_->gather;
        if (all.size() < (size_t)n * size_) all.resize((size_t)n * size_);
        auto & req = buf_->req;
        auto & peer = buf_->peer;
        int nr = 0;
        for (int r = 1; r < size_; ++r) {
            MPI_Irecv(all.data() + (size_t)r * n, n, MPI_INT64_T, r, kTagSum, MPI_COMM_WORLD, &req[nr]);
            peer[nr++] = r;
        }
        wait_all(req.data(), peer.data(), nr, timeout_s_, rank_, size_, "a sum of counts");
        for (int r = 1; r < size_; ++r)
            for (int i = 0; i < n; ++i) v[i] += all[(size_t)r * n + i];
    } else {
        MPI_Request req;
        const int root = 0;
        MPI_Isend(v.data(), n, MPI_INT64_T, 0, kTagSum, MPI_COMM_WORLD, &req);
        wait_all(&req, &root, 1, timeout_s_, rank_, size_, "a sum of counts");
    }
    broadcast(v.data(), v.size() * sizeof(int64_t), 0);
}

} // namespace moe::mpi

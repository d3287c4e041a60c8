// moe/train/communicator.hpp — how the processes of a data-parallel run combine their work
// (docs/distributed.md). A step's batch is cut into a fixed number of shards (train.shards),
// whatever the number of processes; rank r computes the contiguous block of shards
// [r * S / np, (r + 1) * S / np), each into its own buffer, and tree_sum() combines the shard
// buffers in one fixed pairwise order: ((s0 + s1) + (s2 + s3)) + ... So any np dividing S gives
// the same bits. The base class is the single process (every shard local, nothing to exchange);
// the MPI implementation lives in lib/src/mpi/ and is built only when an MPI is found.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace moe::train {

class Communicator {
  public:
    virtual ~Communicator() = default;
    virtual int rank() const { return 0; }
    virtual int size() const { return 1; }
    // One level of a tree: sends `bytes` of `send` to rank `to` and receives `bytes` into `recv`
    // from rank `from` (-1: no such message), both complete on return. Throws moe::Error (naming
    // the peer) when a peer fails or does not answer in time.
    virtual void exchange(const void * send, int to, void * recv, int from, size_t bytes) {}
    // The bytes of rank `root` on every rank.
    virtual void broadcast(void * buf, size_t bytes, int root) {}
    // Element-wise integer sums over the ranks (exact: any order gives the same result).
    virtual void sum_exact(std::span<int64_t> v) {}
    // True on every rank when `flag` is true on any (a stop request seen by one process).
    bool any(bool flag);
    // "" for a single process, else "rank R of N: " (message prefixes).
    std::string who() const;
};

// The shards [first, first + count) of n_shards that rank `rank` of n_ranks computes (n_ranks
// divides n_shards).
struct ShardBlock {
    int first = 0, count = 0;
};
ShardBlock shard_block(int n_shards, int rank, int n_ranks);

// The fixed-order pairwise sum of n_shards vectors of len values. `mine` holds this rank's
// shards (shard_block order; overwritten); `scratch` (len values) receives a peer's partial sum.
// The total is written to `out` (len values) on every rank. For one shard, out = mine[0].
template <typename T>
void tree_sum(Communicator & comm, std::span<T * const> mine, size_t len, int n_shards, T * scratch, T * out);

} // namespace moe::train

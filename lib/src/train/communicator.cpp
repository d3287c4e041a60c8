// train: the fixed-order shard reduction of data-parallel runs (see moe/train/communicator.hpp).
#include "moe/train/communicator.hpp"

#include <algorithm>

#include "moe/core/error.hpp"

namespace moe::train {

bool Communicator::any(bool flag) {
    if (size() == 1) return flag;
    int64_t v = flag ? 1 : 0;
    sum_exact(std::span<int64_t>(&v, 1));
    return v > 0;
}

std::string Communicator::who() const {
    if (size() == 1) return "";
    return "rank " + std::to_string(rank()) + " of " + std::to_string(size()) + ": ";
}

ShardBlock shard_block(int n_shards, int rank, int n_ranks) {
    MOE_CHECK(n_ranks >= 1 && n_shards >= 1 && n_shards % n_ranks == 0, ErrorCode::spec,
              "train.shards (" + std::to_string(n_shards) + ") must be a multiple of the number of processes (" +
                  std::to_string(n_ranks) + ")");
    const int per = n_shards / n_ranks;
    return {rank * per, per};
}

// Level by level (stride s = 1, 2, 4, ...), node i (a multiple of 2s) becomes node i + node i+s:
// the same additions in the same order wherever the shards live. A node belongs to the rank of
// its first shard; when the two nodes of a pair belong to different ranks, the right one is sent
// to the left one's rank. Within a level a rank sends at most one node (the one starting in
// [first, first + s)) and receives at most one (the pair starting in [end - s, end)), and every
// message goes to a lower rank, so one exchange per level cannot deadlock.
template <typename T>
void tree_sum(Communicator & comm, std::span<T * const> mine, size_t len, int n_shards, T * scratch, T * out) {
    const int np = comm.size(), me = comm.rank();
    const ShardBlock blk = shard_block(n_shards, me, np);
    MOE_ASSERT((int)mine.size() == blk.count);
    const int per = blk.count;
    auto owner = [&](int shard) { return shard / per; };
    auto local = [&](int shard) { return mine[shard - blk.first]; };
    for (int s = 1; s < n_shards; s *= 2) {
        const T * send = nullptr;
        T * recv = nullptr;
        int to = -1, from = -1;
        for (int i = 0; i + s < n_shards; i += 2 * s) {
            const int l = owner(i), r = owner(i + s);
            if (l == r) continue;
            if (r == me) {
                MOE_ASSERT(to < 0);
                send = local(i + s);
                to = l;
            }
            if (l == me) {
                MOE_ASSERT(from < 0);
                recv = scratch;
                from = r;
            }
        }
        if (to >= 0 || from >= 0) comm.exchange(send, to, recv, from, len * sizeof(T));
        for (int i = 0; i + s < n_shards; i += 2 * s) {
            if (owner(i) != me) continue;
            T * dst = local(i);
            const T * src = owner(i + s) == me ? local(i + s) : scratch;
            for (size_t k = 0; k < len; ++k) dst[k] = dst[k] + src[k];
        }
    }
    if (me == 0) std::copy(mine[0], mine[0] + len, out);
    if (np > 1) comm.broadcast(out, len * sizeof(T), 0);
}

template void tree_sum<float>(Communicator &, std::span<float * const>, size_t, int, float *, float *);
template void tree_sum<double>(Communicator &, std::span<double * const>, size_t, int, double *, double *);

} // namespace moe::train

// The fixed-order shard reduction of data-parallel training (moe/train/communicator.hpp,
// docs/distributed.md): however the shards are spread over processes, the same additions in
// the same order, so the same bits. The processes are forked children of the test talking over
// pipes (a stand-in for MPI with the same protocol: one exchange per tree level, a broadcast
// from rank 0, exact integer sums).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "harness.hpp"
#include "moe/core/rng.hpp"
#include "moe/train/communicator.hpp"

using namespace moe;
using std::vector;

namespace {

// rank `me` of np forked processes; p[a * np + b] is the pipe from a to b
class PipeComm final : public train::Communicator {
  public:
    PipeComm(int me, int np, const vector<int> & fds) : me_(me), np_(np), fds_(fds) {}
    int rank() const override { return me_; }
    int size() const override { return np_; }
    // (every message goes to a lower rank, so sending first cannot deadlock)
    void exchange(const void * send, int to, void * recv, int from, size_t bytes) override {
        if (to >= 0) put(to, send, bytes);
        if (from >= 0) get(from, recv, bytes);
    }
    void broadcast(void * buf, size_t bytes, int root) override {
        if (me_ == root) {
            for (int r = 0; r < np_; ++r)
                if (r != root) put(r, buf, bytes);
        } else {
            get(root, buf, bytes);
        }
    }
    void sum_exact(std::span<int64_t> v) override {
        const size_t bytes = v.size() * sizeof(int64_t);
        if (me_ == 0) {
            vector<int64_t> o(v.size());
            for (int r = 1; r < np_; ++r) {
                get(r, o.data(), bytes);
                for (size_t i = 0; i < v.size(); ++i) v[i] += o[i];
            }
        } else {
            put(0, v.data(), bytes);
        }
        broadcast(v.data(), bytes, 0);
    }

  private:
    int me_, np_;
    vector<int> fds_;
    void put(int to, const void * p, size_t n) {
        const int fd = fds_[2 * (me_ * np_ + to) + 1];
        for (size_t o = 0; o < n;) {
            const ssize_t w = ::write(fd, (const char *)p + o, n - o);
            REQUIRE(w > 0);
            o += (size_t)w;
        }
    }
    void get(int from, void * p, size_t n) {
        const int fd = fds_[2 * (from * np_ + me_)];
        for (size_t o = 0; o < n;) {
            const ssize_t r = ::read(fd, (char *)p + o, n - o);
            REQUIRE(r > 0);
            o += (size_t)r;
        }
    }
};

// Runs fn(comm) in np forked processes; returns what each wrote (the bytes of its result).
vector<std::string> run_ranks(int np, const std::function<std::string(train::Communicator &)> & fn) {
    vector<int> fds(2 * np * np, -1);
    for (int a = 0; a < np; ++a)
        for (int b = 0; b < np; ++b)
            if (a != b) REQUIRE(::pipe(&fds[2 * (a * np + b)]) == 0);
    const std::string dir = "/tmp/moe_shards_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    vector<pid_t> kids;
    for (int r = 0; r < np; ++r) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            PipeComm comm(r, np, fds);
            const std::string out = fn(comm);
            std::ofstream(dir + "/" + std::to_string(r), std::ios::binary) << out;
            ::_exit(0);
        }
        kids.push_back(pid);
    }
    for (int fd : fds)
        if (fd >= 0) ::close(fd);
    for (pid_t k : kids) {
        int st = 0;
        REQUIRE(::waitpid(k, &st, 0) == k);
        REQUIRE((WIFEXITED(st) && WEXITSTATUS(st) == 0));
    }
    vector<std::string> outs;
    for (int r = 0; r < np; ++r) {
        std::ifstream f(dir + "/" + std::to_string(r), std::ios::binary);
        outs.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }
    std::filesystem::remove_all(dir);
    return outs;
}

template <typename T>
std::string bytes(const vector<T> & v) {
    return std::string((const char *)v.data(), v.size() * sizeof(T));
}

// shard s's vector: mixed magnitudes (2^-16 .. 2^15), so that the order of the additions shows
vector<double> shard_values(int s, size_t len) {
    Rng rng(100 + s);
    vector<double> v(len);
    for (auto & x : v) x = rng.normal() * std::ldexp(1.0, (int)rng.below(32) - 16);
    return v;
}

} // namespace

TEST_CASE("tree_sum: the same bits on every rank for every np dividing the shards, in pairwise order") {
    const size_t len = 1000;
    for (int S : {1, 4, 6, 8}) {
        // the serial reference: level by level, node i += node i + stride
        vector<vector<double>> lv;
        for (int s = 0; s < S; ++s) lv.push_back(shard_values(s, len));
        for (int st = 1; st < S; st *= 2)
            for (int i = 0; i + st < S; i += 2 * st)
                for (size_t k = 0; k < len; ++k) lv[i][k] = lv[i][k] + lv[i + st][k];
        const std::string want = bytes(lv[0]);
        for (int np = 1; np <= S; ++np) {
            if (S % np != 0) continue;
            const auto outs = run_ranks(np, [&](train::Communicator & comm) {
                const train::ShardBlock b = train::shard_block(S, comm.rank(), comm.size());
                vector<vector<double>> mine;
                vector<double *> ptrs;
                for (int k = 0; k < b.count; ++k) mine.push_back(shard_values(b.first + k, len));
                for (auto & m : mine) ptrs.push_back(m.data());
                vector<double> scratch(len), out(len);
                train::tree_sum<double>(comm, ptrs, len, S, scratch.data(), out.data());
                return bytes(out);
            });
            for (int r = 0; r < np; ++r) {
                INFO("shards " << S << ", np " << np << ", rank " << r);
                CHECK(outs[r] == want);
            }
        }
    }
    // the order matters for these values: a plain left-to-right sum differs
    vector<double> seq(len, 0.0);
    for (int s = 0; s < 8; ++s) {
        const auto v = shard_values(s, len);
        for (size_t k = 0; k < len; ++k) seq[k] += v[k];
    }
    vector<vector<double>> lv;
    for (int s = 0; s < 8; ++s) lv.push_back(shard_values(s, len));
    for (int st = 1; st < 8; st *= 2)
        for (int i = 0; i + st < 8; i += 2 * st)
            for (size_t k = 0; k < len; ++k) lv[i][k] = lv[i][k] + lv[i + st][k];
    CHECK(bytes(seq) != bytes(lv[0]));
}

TEST_CASE("a sharded training step gives the same weights and losses at np = 1, 2, 4") {
    // an MLP MoLE with a global-batch LBL (running counts restart per shard) and a DeepSeek-style
    // bias update (its counts summed over the processes)
    for (const char * router : {"topk", "sigmoid_bias"}) {
        spec::Spec sp = test::moe_spec("mlp", {"layers.0", "layers.1"}, 4, 4);
        sp.model.mlp.hidden = {32, 16};
        sp.loss.lbl = "mixtral";
        sp.loss.lbl_scope = "global";
        sp.routing.kind = router;
        const models::InputShape in{20, 0, 0, 0};
        const int S = 4, B = 32;
        auto train = [&](train::Communicator * comm) {
            test::Threads th(1);
            test::TrainLoop loop(sp, in, B, 1e-2, 7);
            loop.use_shards(S, comm, in.d);
            vector<double> losses;
            for (int step = 0; step < 3; ++step) {
                loop.step();
                REQUIRE(loop.last.updated);
                losses.push_back(loop.last.loss);
                losses.push_back(loop.last.grad_norm);
                losses.push_back((double)loop.last.correct);
            }
            auto tv = loop.net->store.trainable_values();
            return bytes(vector<float>(tv.begin(), tv.end())) + bytes(losses);
        };
        INFO("router " << router);
        const std::string one = train(nullptr);
        for (int np : {1, 2, 4}) {
            const auto outs = run_ranks(np, [&](train::Communicator & comm) { return train(&comm); });
            for (int r = 0; r < np; ++r) {
                INFO("np " << np << ", rank " << r);
                CHECK(outs[r] == one);
            }
        }
    }
}

// SEMA's descriptor FIFOs under data parallelism (docs/distributed.md, "moe-expand"): losses held
// during a step's micro-batches, then entered in order, give the FIFO the same losses as entering
// them at once; the descriptor objective scales with 1 / micro-batches.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "moe/core/params.hpp"
#include "moe/sites/sema_site.hpp"

using namespace moe;
using std::vector;

namespace {

struct Site {
    ParamStore<double> st;
    sites::SemaSite<double> site;
    static constexpr int C = 6, OC = 5, N = 8;
    Site() {
        sites::SemaSiteConfig cfg;
        cfg.rank = 3;
        cfg.rd_dim = 2;
        cfg.buffer_size = 20;
        site.declare(st, "layers.0", C, OC, cfg, 2, true, true);
        st.allocate(7);
        site.bind(st);
        site.plan(N, 1);
        site.set_updating({true});
    }
};

vector<double> input() {
    vector<double> x(Site::N * Site::C);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1 * double(i % 7) - 0.25 * double(i % 3);
    return x;
}

} // namespace

TEST_CASE("SEMA held records: a step's micro-batches enter the FIFO in sample order, once the step is done") {
    const vector<double> x = input();
    vector<double> out(Site::N * Site::OC, 0.0);
    Site whole;
    whole.site.forward(out.data(), x.data(), Site::N, true); // one batch: the losses enter at once
    const vector<double> want = whole.site.records(0).values();
    REQUIRE(want.size() == (size_t)Site::N);

    Site held;
    held.site.set_hold_records(true);
    for (int m = 0; m < 2; ++m) // two micro-batches of four samples
        held.site.forward(out.data(), x.data() + (size_t)m * 4 * Site::C, 4, true);
    CHECK(held.site.records(0).len == 0); // nothing entered during the step
    const auto h = held.site.held(0);
    REQUIRE(h.size() == want.size());
    for (size_t i = 0; i < h.size(); ++i) CHECK(h[i] == doctest::Approx(want[i]).epsilon(1e-12));
    CHECK(held.site.held(1).empty()); // (slot 1 is not in use)
    held.site.clear_held();
    CHECK(held.site.held(0).empty());
    // evaluation forwards hold nothing
    held.site.forward(out.data(), x.data(), Site::N, false);
    CHECK(held.site.held(0).empty());
}

TEST_CASE("SEMA descriptor objective: scaled by 1 / micro-batches, loss and gradient alike") {
    const vector<double> x = input();
    vector<double> out(Site::N * Site::OC, 0.0);
    Site a, b;
    b.site.set_objective_scale(0.25);
    a.site.forward(out.data(), x.data(), Site::N, true);
    b.site.forward(out.data(), x.data(), Site::N, true);
    const double la = a.site.rd_loss_backward({true}), lb = b.site.rd_loss_backward({true});
    CHECK(lb == doctest::Approx(0.25 * la).epsilon(1e-14));
    const int id = a.st.find("layers.0.sema.rd0.enc_w");
    REQUIRE(id >= 0);
    const double * ga = a.st.grad(id);
    const double * gb = b.st.grad(id);
    for (size_t i = 0; i < a.st.info(id).size; ++i) CHECK(gb[i] == doctest::Approx(0.25 * ga[i]).epsilon(1e-14));
}

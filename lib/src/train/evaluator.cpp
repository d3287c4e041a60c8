// train: moe-eval's library half — rebuild a run's network, evaluate, analyse routing, ablate.
#include "moe/train/evaluator.hpp"

#include <cmath>
#include <limits>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/core/log.hpp"
#include "moe/io/run_file.hpp"
#include "moe/routing/registry.hpp"
#include "moe/spec/paths.hpp"
#include "moe/train/network.hpp"
#include "moe/train/run_data.hpp"
#include "moe/train/run_setup.hpp"

namespace moe::train {

void mutual_information(const std::vector<double> & joint, int rows, int cols, double & mi, double & nmi) {
    mi = nmi = 0;
    double total = 0;
    for (double c : joint) total += c;
    if (total <= 0) return;
    std::vector<double> pr(rows, 0.0), pc(cols, 0.0);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const double p = joint[(size_t)r * cols + c] / total;
            pr[r] += p;
            pc[c] += p;
        }
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const double p = joint[(size_t)r * cols + c] / total;
            if (p > 0) mi += p * std::log(p / (pr[r] * pc[c]));
        }
    double hr = 0, hc = 0;
    for (double p : pr)
        if (p > 0) hr -= p * std::log(p);
    for (double p : pc)
        if (p > 0) hc -= p * std::log(p);
    nmi = (hr > 0 && hc > 0) ? mi / std::sqrt(hr * hc) : 0.0;
}

namespace {
// The assignment problem: rows to distinct columns (n <= m) minimising the summed cost, by the
// Hungarian algorithm with potentials (O(n^2 m)). Returns the column of every row.
std::vector<int> hungarian(const std::vector<double> & cost, int n, int m) {
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
    std::vector<int> p(m + 1, 0), way(m + 1, 0); // p[j]: the row (1-based) matched to column j
    for (int i = 1; i <= n; ++i) {
        p[0] = i;
        int j0 = 0;
        std::vector<double> minv(m + 1, inf);
        std::vector<char> used(m + 1, 0);
        do {
            used[j0] = 1;
            const int i0 = p[j0];
            double delta = inf;
            int j1 = 0;
            for (int j = 1; j <= m; ++j)
                if (!used[j]) {
                    const double cur = cost[(size_t)(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            for (int j = 0; j <= m; ++j)
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            j0 = j1;
        } while (p[j0] != 0);
        do { // augment along the alternating path
            const int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    std::vector<int> col(n, -1);
    for (int j = 1; j <= m; ++j)
        if (p[j] > 0) col[p[j] - 1] = j - 1;
    return col;
}
} // namespace

std::vector<int> assign_experts(const std::vector<double> & affinity, int tasks, int experts) {
    MOE_CHECK(tasks >= 0 && experts > 0 && affinity.size() == (size_t)tasks * experts, ErrorCode::internal,
              "assign_experts: the affinity is not tasks x experts");
    if (tasks == 0) return {};
    for (double a : affinity) MOE_CHECK(std::isfinite(a), ErrorCode::internal, "assign_experts: a non-finite affinity");
    if (tasks <= experts) {
        std::vector<double> cost(affinity.size());
        for (size_t i = 0; i < cost.size(); ++i) cost[i] = -affinity[i];
        return hungarian(cost, tasks, experts);
    }
    std::vector<int> out(tasks, 0);
    for (int t = 0; t < tasks; ++t)
        for (int e = 1; e < experts; ++e)
            if (affinity[(size_t)t * experts + e] > affinity[(size_t)t * experts + out[t]]) out[t] = e;
    return out;
}

// Optimizer steps of a finished run (its metrics/steps attribute; 0 when absent).
static int64_t run_steps(const io::RunReader & run) {
    if (!run.has("metrics")) return 0;
    try {
        return std::stoll(run.attr_string("metrics", "steps"));
    } catch (const std::exception &) { return 0; }
}

std::vector<double> row_shares(const std::vector<int64_t> & counts, int rows, int cols) {
    std::vector<double> out(counts.size(), 0.0);
    for (int r = 0; r < rows; ++r) {
        double s = 0;
        for (int c = 0; c < cols; ++c) s += counts[(size_t)r * cols + c];
        for (int c = 0; c < cols; ++c) out[(size_t)r * cols + c] = s > 0 ? counts[(size_t)r * cols + c] / s : 0.0;
    }
    return out;
}

// The inference-time overrides must mean something for this run's routing: otherwise the
// report would show the run's own routing under the override's name.
static void check_overrides(const spec::Spec & sp, const Network & net, const EvalOptions & opt,
                            const std::string & run) {
    const bool any = opt.k > 0 || !opt.force.empty() || !opt.disable.empty() || opt.ablate;
    if (!any) return;
    const std::string & kind = sp.routing.kind;
    const routing::RouterEntry & router = routing::router_entry(kind);
    auto usage = [](const std::string & msg) { throw Error(ErrorCode::spec, msg); };
    if (net.sites.empty())
        usage(run +
              " has no adapter sites: --k, --uniform, --oracle, --disable and --ablate change a mixture's routing");
    const int E = net.sites.front()->experts();
    if (!opt.force.empty() && !router.traits.chooses)
        usage("--" + opt.force + ": the run's router '" + kind +
              "' routes without the router's choice, so a forced "
              "routing changes nothing");
    if (opt.k > 0) {
        if (!router.traits.fixed_k) {
            std::string takes;
            for (const auto & r : routing::routers())
                if (r.traits.fixed_k) takes += std::string(takes.empty() ? "" : ", ") + r.name;
            usage("--k: the run's router '" + kind + "' does not select a fixed number of experts (--k applies to " +
                  takes + ")");
        }
        const int most = E + (kind == "null_experts" ? sp.routing.null_experts : 0);
        if (opt.k > most)
            usage("--k " + std::to_string(opt.k) + ": the run's sites have " + std::to_string(most) +
                  (kind == "null_experts" ? " experts (null experts included)" : " experts"));
    }
    if (!opt.disable.empty() || opt.ablate) {
        const std::string what = opt.ablate ? "--ablate" : "--disable";
        if (!opt.force.empty())
            usage(what + " and --" + opt.force +
                  ": the forced routing ignores the router, so no expert can be removed from it");
        if (!router.traits.chooses)
            usage(what + ": the run's router '" + kind +
                  "' does not choose among experts, so none can be removed from it");
        std::vector<char> off(E, 0);
        for (int e : opt.disable) {
            if (e < 0 || e >= E)
                usage("--disable: expert " + std::to_string(e) + " does not exist (the run's sites have experts 0.." +
                      std::to_string(E - 1) + ")");
            off[e] = 1;
        }
        int left = 0;
        for (char o : off) left += !o;
        if (left == 0) usage("--disable: that removes every expert of every site; leave at least one");
        if (opt.ablate && left < 2)
            usage("--ablate with --disable: one expert is left, and removing it too leaves no expert to route to");
    }
}

EvalReport evaluate_run(const std::string & run_path, const EvalOptions & opt) {
    io::RunReader run(run_path);
    // moe-expand's runs hold a stream's expanded adapters, which the network below (built from the
    // spec's model and adapters) does not have: evaluating them would silently drop the adapters
    const std::string tool = run.attr_string("/", "tool");
    if (tool != "moe-train")
        throw Error(
            ErrorCode::spec,
            run_path + " was written by " + tool + ", not moe-train: moe-eval evaluates moe-train runs",
            tool == "moe-expand"
                ? std::vector<std::string>{"a stream's results are in the run itself: stream/accuracy_matrix (row i: "
                                           "after task i), stream/A_N, stream/A_bar, stream/forgetting, stream/bwt"}
                : std::vector<std::string>{});
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(run.spec_json());
    } catch (const nlohmann::json::exception & e) { // invalid, or a number beyond double
        throw Error(ErrorCode::io, run_path + ": /spec is not valid JSON (" + std::string(e.what()) + ")");
    }
    // the base the run was trained on (before any --set): the output must not replace it
    std::string stored_base;
    if (j.is_object() && j.contains("base") && j["base"].is_string()) stored_base = j["base"].get<std::string>();
    for (const auto & o : opt.overrides) spec::apply_override(j, o);
    // every tensor, the base's included, is in the run file: the base run need not be at hand
    const std::string set_base = spec::drop_weight_inputs(j);
    for (const auto & o : opt.overrides)
        if (o.rfind("base=", 0) == 0)
            log_warn("--set " + o + ": moe-eval takes every tensor from the run; base is not read");
    spec::Spec sp;
    try {
        sp = spec::parse_spec(j, run_path + ":/spec");
    } catch (const SpecError & e) { // without --set the stored spec is the file's: a bad file (3)
        auto hints = spec::relative_paths_hint(j); // an older run: its inputs are relative to where it trained
        if (!opt.overrides.empty()) {
            if (hints.empty()) throw;
            throw Error(ErrorCode::spec, std::string(e.what()), hints);
        }
        if (hints.empty()) hints.push_back("the run file's /spec was changed or written by another tool");
        throw Error(ErrorCode::io, std::string(e.what()), hints);
    }
    if (!opt.out.empty()) { // the output is none of the run's inputs, and can be written: before any work
        auto inputs = spec::input_files(sp);
        inputs.push_back({"the run file", run_path});
        if (!stored_base.empty()) inputs.push_back({"the base run", stored_base});
        if (!set_base.empty() && set_base != stored_base) inputs.push_back({"the base run given by --set", set_base});
        prepare_outputs({opt.out}, inputs, "moe-eval");
    }
    blas::blas_init(opt.threads >= 0 ? opt.threads : sp.exp.threads);
    MOE_CHECK(opt.split == "test" || opt.split == "val", ErrorCode::spec, "--split must be test or val");
    MOE_CHECK(opt.force.empty() || opt.force == "uniform" || opt.force == "oracle", ErrorCode::spec,
              "routing override must be uniform or oracle");
    MOE_CHECK(opt.oracle_map == "affinity" || opt.oracle_map == "fixed", ErrorCode::spec,
              "--oracle=" + opt.oracle_map + ": expected --oracle (the learned task-expert map) or --oracle=fixed");

    std::unique_ptr<RunData> data;
    try {
        data = open_run_data(sp, sp.exp.seed);
    } catch (const Error & e) {
        auto hints = spec::relative_paths_hint(j);
        if (hints.empty() || e.code() != ErrorCode::io) throw;
        hints.insert(hints.begin(), e.hints().begin(), e.hints().end());
        throw Error(e.code(), e.what(), hints);
    }
    MOE_CHECK(data->has_split(opt.split), ErrorCode::spec, "the " + opt.split + " split of " + run_path + " is empty");
    const int V = data->n_outputs;
    const int n_tasks = (int)data->task_names.size();
    const models::InputShape in = data->input;
    auto net = build_network(sp, in, V, n_tasks, sp.exp.seed);
    run.load_params(net->store, {});
    { // every tensor of the run must be in the model: one left over means another model was built
        std::vector<std::string> extra;
        for (const auto & name : run.list("params"))
            if (net->store.find(name) < 0) extra.push_back(name);
        if (!extra.empty()) {
            std::string msg = run_path + ": " + std::to_string(extra.size()) + " tensor" +
                              (extra.size() == 1 ? "" : "s") + " of the run are not in the model its /spec builds" +
                              (opt.overrides.empty() ? "" : " with the --set overrides") + " (";
            for (size_t i = 0; i < extra.size() && i < 3; ++i)
                msg += (i ? ", " : "") + std::string("params/") + extra[i];
            msg += extra.size() > 3 ? ", ...)" : ")";
            throw Error(opt.overrides.empty() ? ErrorCode::io : ErrorCode::spec, msg,
                        {"evaluating without them would measure another model; keep the run's model and adapter keys"});
        }
    }
    check_overrides(sp, *net, opt, run_path);
    // the learned oracle: each task's expert from one evaluation with the router (per site)
    const bool learned_oracle = opt.force == "oracle" && opt.oracle_map == "affinity";
    std::vector<std::vector<int>> oracle(net->sites.size());
    for (auto & s : net->sites) {
        sites::Overrides ov;
        ov.k = opt.k;
        ov.force = learned_oracle ? "" : opt.force;
        ov.disabled = opt.disable;
        s->set_overrides(ov);
        s->set_analysis(n_tasks, V);
    }
    // schedules (random_fixed's growing k) route as the run's training ended
    net->set_step(run_steps(run));
    const int batch = sp.eval.batch_size;
    net->plan(batch);
    if (learned_oracle) {
        log_info("oracle: evaluating the " + opt.split + " split with the router to map each task to its expert");
        (void)data->evaluate(*net, opt.split, batch, true);
        for (size_t i = 0; i < net->sites.size(); ++i) {
            auto & s = net->sites[i];
            const int E = s->experts();
            oracle[i] = assign_experts(row_shares(s->stats()->task_load, n_tasks, E), n_tasks, E);
            s->stats()->clear();
            sites::Overrides ov;
            ov.k = opt.k;
            ov.force = "oracle";
            ov.oracle = oracle[i];
            s->set_overrides(ov);
        }
    } else if (opt.force == "oracle") {
        for (size_t i = 0; i < net->sites.size(); ++i)
            for (int t = 0; t < n_tasks; ++t) oracle[i].push_back(t % net->sites[i]->experts());
    }

    EvalReport rep;
    rep.run_path = run_path;
    rep.split = opt.split;
    rep.source = sp.data.source;
    rep.ground_truth = sp.data.source == "synthetic";
    rep.task_names = data->task_names;
    rep.text = data->text;
    rep.n_classes = V;
    rep.options = opt;
    rep.overall = data->evaluate(*net, opt.split, batch, true);
    for (auto & s : net->sites) {
        const auto & st = *s->stats();
        SiteReport r;
        r.site = s->name();
        r.experts = s->experts();
        const int E = r.experts;
        const routing::RoutingRecord rec = routing::summarize(st, E);
        r.load = rec.load;
        r.entropy = rec.entropy;
        r.active = rec.active;
        r.dropped = rec.dropped;
        r.flops_ratio = rec.flops_ratio;
        r.affinity = row_shares(st.task_load, n_tasks, E);
        r.class_affinity = row_shares(st.class_load, V, E);
        std::vector<double> joint(st.task_load.begin(), st.task_load.end());
        mutual_information(joint, n_tasks, E, r.mi, r.nmi);
        r.oracle = oracle[rep.sites.size()];
        rep.sites.push_back(std::move(r));
    }
    if (opt.ablate) {
        const size_t n_sites = net->sites.size();
        for (size_t si = 0; si < n_sites; ++si) {
            auto & s = net->sites[si];
            for (int e = 0; e < s->experts(); ++e) {
                log_info("ablate: site " + s->name() + " (" + std::to_string(si + 1) + "/" + std::to_string(n_sites) +
                         "), expert " + std::to_string(e) + " (" + std::to_string(e + 1) + "/" +
                         std::to_string(s->experts()) + ")");
                sites::Overrides ov;
                ov.k = opt.k;
                ov.disabled = opt.disable;
                ov.disabled.push_back(e);
                s->set_overrides(ov);
                EvalInfo ev = data->evaluate(*net, opt.split, batch, false);
                Ablation a;
                a.site = s->name();
                a.expert = e;
                for (size_t t = 0; t < ev.tasks.size(); ++t) {
                    a.delta.push_back(ev.tasks[t].accuracy - rep.overall.tasks[t].accuracy);
                    if (ev.text) a.delta_bpb.push_back(ev.tasks[t].bpb - rep.overall.tasks[t].bpb);
                }
                rep.ablations.push_back(std::move(a));
            }
            sites::Overrides ov;
            ov.k = opt.k;
            ov.disabled = opt.disable;
            s->set_overrides(ov);
        }
    }
    return rep;
}

void write_eval_report(const EvalReport & r, const std::string & out_path) {
    io::RunWriter w(out_path, "moe-eval");
    w.set_attr("/", "run", r.run_path);
    w.set_attr("/", "split", r.split);
    w.set_attr("/", "source", r.source);
    { // the overrides that made this report
        const EvalOptions & o = r.options;
        w.set_attr_int("/", "k", o.k);
        w.set_attr("/", "routing", o.force.empty() ? std::string("router") : o.force);
        if (o.force == "oracle") w.set_attr("/", "oracle_map", o.oracle_map);
        std::string off;
        for (int e : o.disable) {
            if (!off.empty()) off += ',';
            off += std::to_string(e);
        }
        w.set_attr("/", "disable", off);
        w.set_attr_int("/", "ablate", o.ablate ? 1 : 0);
        w.set_attr("/", "set", nlohmann::json(o.overrides).dump());
    }
    w.set_attr("eval", "loss", r.overall.loss);
    w.set_attr("eval", "accuracy", r.overall.accuracy);
    const int T = (int)r.task_names.size();
    std::vector<double> tl, ta;
    std::string names;
    for (const auto & t : r.overall.tasks) {
        tl.push_back(t.loss);
        ta.push_back(t.accuracy);
        names += (names.empty() ? "" : ",") + t.task;
    }
    w.set_attr("eval", "tasks", names);
    w.write_array("eval/task_loss", std::span<const double>(tl), {T});
    w.write_array("eval/task_accuracy", std::span<const double>(ta), {T});
    if (r.text) { // the sums bpb and perplexity derive from, per domain
        for (auto [k, v] : {std::pair{"bpb", r.overall.bpb},
                            {"bpb_mean", r.overall.bpb_mean},
                            {"ppl", r.overall.ppl},
                            {"nats", r.overall.nats},
                            {"bytes", r.overall.bytes},
                            {"tokens", double(r.overall.n)}})
            w.set_attr("eval", k, v);
        std::vector<double> bpb, ppl, nats, bytes, tokens;
        for (const auto & t : r.overall.tasks) {
            bpb.push_back(t.bpb);
            ppl.push_back(t.ppl);
            nats.push_back(t.nats);
            bytes.push_back(t.bytes);
            tokens.push_back(double(t.n));
        }
        w.write_array("eval/task_bpb", std::span<const double>(bpb), {T});
        w.write_array("eval/task_ppl", std::span<const double>(ppl), {T});
        w.write_array("eval/task_nats", std::span<const double>(nats), {T});
        w.write_array("eval/task_bytes", std::span<const double>(bytes), {T});
        w.write_array("eval/task_tokens", std::span<const double>(tokens), {T});
    }
    for (const auto & s : r.sites) {
        const std::string p = "eval/sites/" + s.site + "/";
        const int E = s.experts;
        w.write_array(p + "load", std::span<const double>(s.load), {E});
        w.write_array(p + "affinity", std::span<const double>(s.affinity), {T, E});
        if (!r.text) // (a language model's classes are its vocabulary: no class affinity)
            w.write_array(p + "class_affinity", std::span<const double>(s.class_affinity), {r.n_classes, E});
        w.set_attr(p + "load", "entropy", s.entropy);
        if (!s.oracle.empty()) {
            const std::vector<int64_t> map(s.oracle.begin(), s.oracle.end());
            w.write_array(p + "oracle", std::span<const int64_t>(map), {T});
        }
        for (auto [k, v] : {std::pair{"entropy", s.entropy},
                            {"active", s.active},
                            {"dropped", s.dropped},
                            {"flops_ratio", s.flops_ratio},
                            {"mi", s.mi},
                            {"nmi", s.nmi}})
            w.set_attr("eval/sites/" + s.site, k, v);
    }
    for (const auto & a : r.ablations) {
        w.write_array("eval/ablation/" + a.site + "/expert_" + std::to_string(a.expert),
                      std::span<const double>(a.delta), {T});
        if (r.text)
            w.write_array("eval/ablation_bpb/" + a.site + "/expert_" + std::to_string(a.expert),
                          std::span<const double>(a.delta_bpb), {T});
    }
    w.commit();
}

} // namespace moe::train

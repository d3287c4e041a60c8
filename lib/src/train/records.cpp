// train: log records and evaluations in the series (see moe/train/records.hpp).
#include "moe/train/records.hpp"

#include <cmath>

namespace moe::train {

void write_eval(SeriesLog & log, const EvalInfo & ev) {
    const std::string p = "metrics/eval/" + ev.split + "/";
    log.append(p + "step", double(ev.step));
    log.append(p + "epoch", double(ev.epoch));
    log.append(p + "loss", ev.loss);
    log.append(p + "accuracy", ev.accuracy);
    if (ev.text)
        for (auto [k, v] : {std::pair{"bpb", ev.bpb},
                            {"bpb_mean", ev.bpb_mean},
                            {"ppl", ev.ppl},
                            {"nats", ev.nats},
                            {"bytes", ev.bytes},
                            {"tokens", double(ev.n)}})
            log.append(p + k, v);
    for (const auto & t : ev.tasks) {
        log.append(p + "tasks/" + t.task + "/loss", t.loss);
        log.append(p + "tasks/" + t.task + "/accuracy", t.accuracy);
        if (ev.text)
            for (auto [k, v] : {std::pair{"bpb", t.bpb},
                                {"ppl", t.ppl},
                                {"nats", t.nats},
                                {"bytes", t.bytes},
                                {"tokens", double(t.n)}})
                log.append(p + "tasks/" + t.task + "/" + k, v);
    }
}

void final_metrics(std::map<std::string, double> & m, const EvalInfo & ev) {
    const std::string p = ev.split + "/";
    m[p + "accuracy"] = ev.accuracy;
    m[p + "loss"] = ev.loss;
    if (!ev.text) return;
    m[p + "bpb"] = ev.bpb;
    m[p + "bpb_mean"] = ev.bpb_mean;
    m[p + "ppl"] = ev.ppl;
    for (const auto & t : ev.tasks) m[p + t.task + "/bpb"] = t.bpb;
}

void write_routing(SeriesLog & log, const Network & net, const std::vector<routing::RoutingStats *> & windows,
                   int64_t step) {
    for (size_t i = 0; i < net.sites.size() && i < windows.size(); ++i) {
        routing::RoutingStats & st = *windows[i];
        if (st.tokens == 0) continue;
        const auto & site = *net.sites[i];
        const std::string p = "routing/" + site.name() + "/";
        const routing::RoutingRecord r = routing::summarize(st, site.experts());
        std::vector<float> load(r.load.size());
        for (size_t e = 0; e < load.size(); ++e) load[e] = float(r.load[e]);
        log.append(p + "step", double(step));
        log.append_row(p + "load", load);
        log.append(p + "entropy", r.entropy);
        log.append(p + "active", r.active);
        log.append(p + "dropped", r.dropped);
        log.append(p + "flops_ratio", r.flops_ratio);
        for (int k = 0; k < routing::kLossKinds; ++k) log.append(p + routing::kLossNames[k], r.aux[k]);
        st.clear();
    }
}

bool is_integer_series(const std::string & name) {
    std::vector<std::string> part;
    for (size_t i = 0;;) {
        const size_t j = name.find('/', i);
        part.push_back(name.substr(i, j == std::string::npos ? std::string::npos : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
    }
    if (part.size() == 3 && part[0] == "metrics" && part[1] == "train") return part[2] == "step";
    if (part.size() == 4 && part[0] == "metrics" && part[1] == "eval") return part[3] == "step" || part[3] == "epoch";
    if (part.size() == 3 && part[0] == "routing") return part[2] == "step";
    return false;
}

std::string first_non_finite(ParamStore<float> & store) {
    auto site_of = [](const std::string & name) -> std::string {
        for (const char * key : {".experts.", ".router.", ".sema."})
            if (auto p = name.find(key); p != std::string::npos) return " (adapter site " + name.substr(0, p) + ")";
        return "";
    };
    for (int pass = 0; pass < 2; ++pass)
        for (int id = 0; id < store.size(); ++id) {
            const auto & pi = store.info(id);
            const float * x = pass == 0 ? store.grad(id) : store.value(id);
            if (!x) continue;
            for (size_t i = 0; i < pi.size; ++i)
                if (!std::isfinite(x[i]))
                    return std::string("; first non-finite ") + (pass == 0 ? "gradient: " : "parameter value: ") +
                           pi.name + "[" + std::to_string(i) + "]" + site_of(pi.name);
        }
    return "";
}

} // namespace moe::train

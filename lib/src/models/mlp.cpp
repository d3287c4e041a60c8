// models: the multilayer perceptron: layers.i = Linear + activation (GELU fused with the bias
// when no adapter hooks the layer), then the head.
#include <algorithm>
#include <cstring>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::models {

using nn::Linear;

// ------------------------------------------------------------------------------------- mlp
template <typename T>
class Mlp final : public Model<T> {
  public:
    Mlp(const MlpConfig & cfg, const InputShape & in, int n_classes, ParamStore<T> & s, const nn::TrainablePred & tr) {
        this->kind_ = "mlp";
        this->n_classes_ = n_classes;
        this->input_dim_ = in.d;
        act_ = nn::parse_activation(cfg.activation);
        int c = in.d;
        for (size_t i = 0; i < cfg.hidden.size(); ++i) {
            layers_.emplace_back();
            layers_.back().declare(s, "layers." + std::to_string(i), c, cfg.hidden[i], true, tr);
            c = cfg.hidden[i];
        }
        head_.declare(s, "head", c, n_classes, true, tr);
    }
    void bind(ParamStore<T> & s) override {
        for (auto & l : layers_) l.bind(s);
        head_.bind(s);
    }
    void plan(int B) override {
        this->planned_ = B;
        const size_t L = layers_.size();
        h_.resize(L);
        a_.resize(L);
        dh_.resize(L);
        da_.resize(L);
        for (size_t i = 0; i < L; ++i) {
            const size_t n = (size_t)B * layers_[i].OC;
            h_[i].assign(n, T(0));
            a_[i].assign(n, T(0));
            dh_[i].assign(n, T(0));
            da_[i].assign(n, T(0));
        }
        logits_.assign((size_t)B * this->n_classes_, T(0));
    }
    const T * forward(const Batch<T> & batch, bool train) override {
        const T * x = batch.x;
        const int B = batch.B;
        MOE_ASSERT(B <= this->planned_);
        x_ = x;
        const T * in = x;
        for (size_t i = 0; i < layers_.size(); ++i) {
            auto & l = layers_[i];
            if (!l.hook && act_ == nn::Activation::gelu) {
                blas::gemm<T>(false, true, B, l.OC, l.C, T(1), in, l.C, l.w, l.C, T(0), h_[i].data(), l.OC);
                nn::bias_gelu_forward(a_[i].data(), h_[i].data(), l.b, B, l.OC);
            } else {
                l.forward(h_[i].data(), in, B, train);
                nn::activation_forward(act_, a_[i].data(), h_[i].data(), (int64_t)B * l.OC);
            }
            in = a_[i].data();
        }
        head_.forward(logits_.data(), in, B, train);
        return logits_.data();
    }
    void backward(const T * dlogits, const Batch<T> & batch) override {
        const int B = batch.B;
        const int L = (int)layers_.size();
        const T * last = L ? a_[L - 1].data() : x_;
        T * dlast = nullptr;
        if (L) {
            dlast = da_[L - 1].data();
            nn::zero(dlast, (int64_t)B * layers_[L - 1].OC);
        }
        head_.backward(dlast, dlogits, last, B);
        for (int i = L - 1; i >= 0; --i) {
            auto & l = layers_[i];
            // forward was: a_i = act(h_i), h_i = layer_i(a_{i-1})
            nn::zero(dh_[i].data(), (int64_t)B * l.OC);
            nn::activation_backward(act_, dh_[i].data(), h_[i].data(), da_[i].data(), (int64_t)B * l.OC);
            T * dprev = nullptr;
            if (i > 0) {
                dprev = da_[i - 1].data();
                nn::zero(dprev, (int64_t)B * l.C);
            }
            l.backward(dprev, dh_[i].data(), i > 0 ? a_[i - 1].data() : x_, B);
        }
    }
    std::vector<nn::SiteRef<T>> sites() override {
        std::vector<nn::SiteRef<T>> s;
        for (auto & l : layers_) s.push_back({l.name, l.C, l.OC, &l.hook, false});
        s.push_back({head_.name, head_.C, head_.OC, &head_.hook, false});
        return s;
    }
    int tokens_per_sample() const override { return 1; }
    double forward_macs_per_sample() const override {
        double m = 0;
        for (auto & l : layers_) m += (double)l.C * l.OC;
        return m + (double)head_.C * head_.OC;
    }

  private:
    nn::Activation act_;
    std::vector<Linear<T>> layers_;
    Linear<T> head_;
    const T * x_ = nullptr;
    std::vector<std::vector<T>> h_, a_, dh_, da_;
    std::vector<T> logits_;
};

template <typename T>
std::unique_ptr<Model<T>> make_mlp(const ModelConfig & cfg, const InputShape & in, int n_outputs, ParamStore<T> & store,
                                   const nn::TrainablePred & tr) {
    return std::make_unique<Mlp<T>>(cfg.mlp, in, n_outputs, store, tr);
}
template std::unique_ptr<Model<float>> make_mlp<float>(const ModelConfig &, const InputShape &, int,
                                                       ParamStore<float> &, const nn::TrainablePred &);
template std::unique_ptr<Model<double>> make_mlp<double>(const ModelConfig &, const InputShape &, int,
                                                         ParamStore<double> &, const nn::TrainablePred &);

} // namespace moe::models

// models: mlp and vit over nn modules.
#include <algorithm>
#include <cstring>

#include "moe/core/error.hpp"
#include "moe/models/model.hpp"
#include "moe/blas/gemm.hpp"
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
        h_.resize(L); a_.resize(L); dh_.resize(L); da_.resize(L);
        for (size_t i = 0; i < L; ++i) {
            const size_t n = (size_t)B * layers_[i].OC;
            h_[i].assign(n, T(0)); a_[i].assign(n, T(0)); dh_[i].assign(n, T(0)); da_[i].assign(n, T(0));
        }
        logits_.assign((size_t)B * this->n_classes_, T(0));
    }
    const T * forward(const T * x, int B, bool train) override {
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
    void backward(const T * dlogits, int B) override {
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
    std::vector<Linear<T> *> sites() override {
        std::vector<Linear<T> *> s;
        for (auto & l : layers_) s.push_back(&l);
        s.push_back(&head_);
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

// ------------------------------------------------------------------------------------- vit
template <typename T>
class Vit final : public Model<T> {
  public:
    Vit(const VitConfig & cfg, const InputShape & in, int n_classes, ParamStore<T> & s, const nn::TrainablePred & tr)
        : cfg_(cfg) {
        this->kind_ = "vit";
        this->n_classes_ = n_classes;
        this->input_dim_ = in.d;
        MOE_CHECK(in.channels > 0 && in.height > 0 && in.width > 0, ErrorCode::spec,
                  "model.kind vit needs image data (the data source has no image geometry)");
        D_ = cfg.width;
        embed_.declare(s, "patch_embed", in.channels, in.height, in.width, cfg.patch, D_, tr);
        Tn_ = embed_.tokens();
        blocks_.resize(cfg.depth);
        for (int i = 0; i < cfg.depth; ++i)
            blocks_[i].declare(s, "blocks." + std::to_string(i), D_, cfg.heads, cfg.mlp_dim, false, tr);
        norm_.declare(s, "norm", D_, tr);
        head_.declare(s, "head", D_, n_classes, true, tr);
    }
    void bind(ParamStore<T> & s) override {
        embed_.bind(s);
        for (auto & b : blocks_) b.bind(s);
        norm_.bind(s);
        head_.bind(s);
    }
    void plan(int B) override {
        this->planned_ = B;
        embed_.plan(B);
        for (auto & b : blocks_) b.plan(B, Tn_);
        const size_t n = (size_t)B * Tn_ * D_;
        xs_.resize(blocks_.size() + 1);
        for (auto & x : xs_) x.assign(n, T(0));
        dx_.assign(n, T(0)); dx2_.assign(n, T(0));
        cls_.assign((size_t)B * D_, T(0)); cls_n_.assign((size_t)B * D_, T(0));
        dcls_.assign((size_t)B * D_, T(0)); dcls_n_.assign((size_t)B * D_, T(0));
        norm_.plan(B);
        logits_.assign((size_t)B * this->n_classes_, T(0));
    }
    const T * forward(const T * x, int B, bool train) override {
        MOE_ASSERT(B <= this->planned_);
        embed_.forward(xs_[0].data(), x, B, train);
        for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i].forward(xs_[i + 1].data(), xs_[i].data(), B, train);
        // final LayerNorm on the CLS token only, then the head
        const T * last = xs_.back().data();
        for (int b = 0; b < B; ++b) std::memcpy(&cls_[(size_t)b * D_], last + (size_t)b * Tn_ * D_, sizeof(T) * D_);
        norm_.forward(cls_n_.data(), cls_.data(), B);
        head_.forward(logits_.data(), cls_n_.data(), B, train);
        return logits_.data();
    }
    void backward(const T * dlogits, int B) override {
        const size_t n = (size_t)B * Tn_ * D_;
        std::fill(dcls_n_.begin(), dcls_n_.begin() + (size_t)B * D_, T(0));
        head_.backward(dcls_n_.data(), dlogits, cls_n_.data(), B);
        std::fill(dcls_.begin(), dcls_.begin() + (size_t)B * D_, T(0));
        norm_.backward(dcls_.data(), dcls_n_.data(), cls_.data(), B);
        nn::zero(dx_.data(), (int64_t)n);
        for (int b = 0; b < B; ++b) std::memcpy(&dx_[(size_t)b * Tn_ * D_], &dcls_[(size_t)b * D_], sizeof(T) * D_);
        T * dout = dx_.data();
        T * dinp = dx2_.data();
        for (int i = (int)blocks_.size() - 1; i >= 0; --i) {
            nn::zero(dinp, (int64_t)n);
            blocks_[i].backward(dinp, dout, xs_[i].data(), B);
            std::swap(dout, dinp);
        }
        embed_.backward(dout, B);
    }
    std::vector<Linear<T> *> sites() override {
        std::vector<Linear<T> *> s{&embed_.proj};
        for (auto & b : blocks_)
            for (auto * l : b.sites()) s.push_back(l);
        s.push_back(&head_);
        return s;
    }
    int tokens_per_sample() const override { return Tn_; }
    double forward_macs_per_sample() const override {
        double m = (double)embed_.P * embed_.proj.C * D_;
        for (auto & b : blocks_) {
            (void)b;
            m += (double)Tn_ * (D_ * 3.0 * D_ + D_ * (double)D_ + 2.0 * D_ * cfg_.mlp_dim); // linears
            m += 2.0 * Tn_ * Tn_ * D_;                                                         // q@k^T, att@v
        }
        return m + (double)D_ * head_.OC;
    }

  private:
    VitConfig cfg_;
    int D_ = 0, Tn_ = 0;
    nn::PatchEmbed<T> embed_;
    std::vector<nn::TransformerBlock<T>> blocks_;
    nn::LayerNorm<T> norm_;
    Linear<T> head_;
    std::vector<std::vector<T>> xs_;
    std::vector<T> dx_, dx2_, cls_, cls_n_, dcls_, dcls_n_, logits_;
};

template <typename T>
std::unique_ptr<Model<T>> make_model(const ModelConfig & cfg, const InputShape & in, int n_classes,
                                     ParamStore<T> & store, const nn::TrainablePred & tr) {
    MOE_CHECK(n_classes > 0, ErrorCode::spec, "the data has no classes");
    if (cfg.kind == "mlp") return std::make_unique<Mlp<T>>(cfg.mlp, in, n_classes, store, tr);
    if (cfg.kind == "vit") return std::make_unique<Vit<T>>(cfg.vit, in, n_classes, store, tr);
    throw Error(ErrorCode::spec, "model.kind: unknown model '" + cfg.kind + "' (expected mlp or vit)");
}

template std::unique_ptr<Model<float>> make_model<float>(const ModelConfig &, const InputShape &, int,
                                                         ParamStore<float> &, const nn::TrainablePred &);
template std::unique_ptr<Model<double>> make_model<double>(const ModelConfig &, const InputShape &, int,
                                                           ParamStore<double> &, const nn::TrainablePred &);

} // namespace moe::models

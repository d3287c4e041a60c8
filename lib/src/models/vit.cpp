// models: the vision transformer (Dosovitskiy et al. 2020, arXiv 2010.11929): patch embedding
// with a CLS token and learned positions, pre-LN blocks, a final LayerNorm on CLS, the head.
#include <algorithm>
#include <cstring>

#include "moe/blas/gemm.hpp"
#include "moe/core/error.hpp"
#include "moe/models/model.hpp"
#include "moe/nn/kernels.hpp"

namespace moe::models {

using nn::Linear;

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
        dx_.assign(n, T(0));
        dx2_.assign(n, T(0));
        cls_.assign((size_t)B * D_, T(0));
        cls_n_.assign((size_t)B * D_, T(0));
        dcls_.assign((size_t)B * D_, T(0));
        dcls_n_.assign((size_t)B * D_, T(0));
        norm_.plan(B);
        logits_.assign((size_t)B * this->n_classes_, T(0));
    }
    const T * forward(const Batch<T> & batch, bool train) override {
        const T * x = batch.x;
        const int B = batch.B;
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
    void backward(const T * dlogits, const Batch<T> & batch) override {
        const int B = batch.B;
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
    std::vector<nn::SiteRef<T>> sites() override {
        auto ref = [](Linear<T> & l) { return nn::SiteRef<T>{l.name, l.C, l.OC, &l.hook, false}; };
        std::vector<nn::SiteRef<T>> s{ref(embed_.proj)};
        s[0].rows = embed_.P; // the patches, without the CLS token
        for (auto & b : blocks_)
            for (auto * l : b.sites()) s.push_back(ref(*l));
        s.push_back(ref(head_));
        for (auto & b : blocks_) s.push_back(b.block_site()); // beside each block's MLP
        return s;
    }
    int tokens_per_sample() const override { return Tn_; }
    double forward_macs_per_sample() const override {
        double m = (double)embed_.P * embed_.proj.C * D_;
        for (auto & b : blocks_) {
            (void)b;
            m += (double)Tn_ * (D_ * 3.0 * D_ + D_ * (double)D_ + 2.0 * D_ * cfg_.mlp_dim); // linears
            m += 2.0 * Tn_ * Tn_ * D_;                                                      // q@k^T, att@v
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
std::unique_ptr<Model<T>> make_vit(const ModelConfig & cfg, const InputShape & in, int n_outputs, ParamStore<T> & store,
                                   const nn::TrainablePred & tr) {
    return std::make_unique<Vit<T>>(cfg.vit, in, n_outputs, store, tr);
}
template std::unique_ptr<Model<float>> make_vit<float>(const ModelConfig &, const InputShape &, int,
                                                       ParamStore<float> &, const nn::TrainablePred &);
template std::unique_ptr<Model<double>> make_vit<double>(const ModelConfig &, const InputShape &, int,
                                                         ParamStore<double> &, const nn::TrainablePred &);

} // namespace moe::models

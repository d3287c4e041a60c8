// task construction: class subsets, image/feature transforms, concatenation.
//
// Images are stored (n, C, H, W) row-major: pixel (c, r, col) of sample s is
// x[s*d + (c*H + r)*W + col]. Rotations are counter-clockwise as displayed (row 0 at the top).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "moe/core/error.hpp"
#include "moe/core/rng.hpp"
#include "moe/data/dataset.hpp"

namespace moe::data {

namespace {

[[noreturn]] void fail_spec(const std::string & msg) { throw Error(ErrorCode::spec, msg); }

void need_image(const Dataset & ds, const std::string & kind) {
    if (!ds.is_image()) fail_spec("transform '" + kind + "' needs image data (the data set has no image geometry)");
}

// Applies a gather map to every (sample, channel) plane: out[p] = in[src[p]] (src has H'*W'
// entries over an H*W input plane; H'*W' == H*W).
void gather_planes(Dataset & ds, const std::vector<int> & src) {
    const size_t plane = src.size();
    const size_t planes = size_t(ds.n) * size_t(std::max(ds.channels, 1));
    std::vector<float> tmp(plane);
    for (size_t q = 0; q < planes; ++q) {
        float * p = &ds.x[q * plane];
        std::copy(p, p + plane, tmp.begin());
        for (size_t i = 0; i < plane; ++i) p[i] = tmp[src[i]];
    }
}

// k quarter turns counter-clockwise. One turn: out (W,H) with out[r][c] = in[c][W-1-r].
void rotate90(Dataset & ds, int k) {
    k = ((k % 4) + 4) % 4;
    if (k == 0) return;
    const int H = ds.height, W = ds.width;
    const int Ho = (k % 2) ? W : H, Wo = (k % 2) ? H : W;
    std::vector<int> src(size_t(Ho) * Wo);
    for (int r = 0; r < Ho; ++r) {
        for (int c = 0; c < Wo; ++c) {
            int sr = 0, sc = 0;
            if (k == 1) {
                sr = c;
                sc = W - 1 - r;
            } else if (k == 2) {
                sr = H - 1 - r;
                sc = W - 1 - c;
            } else {
                sr = H - 1 - c;
                sc = r;
            }
            src[size_t(r) * Wo + c] = sr * W + sc;
        }
    }
    gather_planes(ds, src);
    ds.height = Ho;
    ds.width = Wo;
}

// Rotation by `angle` degrees counter-clockwise about the image centre ((H-1)/2, (W-1)/2),
// bilinear interpolation, zero outside. Each output pixel is a 4-tap weighted sum computed once.
void rotate_any(Dataset & ds, double angle) {
    const int H = ds.height, W = ds.width;
    const size_t plane = size_t(H) * W;
    const double th = angle * 3.14159265358979323846 / 180.0;
    const double cs = std::cos(th), sn = std::sin(th);
    const double cy = 0.5 * (H - 1), cx = 0.5 * (W - 1);
    std::vector<int> idx(plane * 4, 0);    // (H*W, 4) source pixels
    std::vector<float> wt(plane * 4, 0.f); // (H*W, 4) weights (0 for taps outside)
    for (int r = 0; r < H; ++r) {
        for (int c = 0; c < W; ++c) {
            // output offset in math axes (y up), rotated back by -angle
            const double x = c - cx, y = cy - r;
            const double xi = cs * x + sn * y, yi = -sn * x + cs * y;
            const double sc = xi + cx, sr = cy - yi;
            const double fr = std::floor(sr), fc = std::floor(sc);
            const double ar = sr - fr, ac = sc - fc;
            const int r0 = int(fr), c0 = int(fc);
            const size_t p = size_t(r) * W + c;
            const int rr[4] = {r0, r0, r0 + 1, r0 + 1};
            const int cc[4] = {c0, c0 + 1, c0, c0 + 1};
            const double ww[4] = {(1 - ar) * (1 - ac), (1 - ar) * ac, ar * (1 - ac), ar * ac};
            for (int j = 0; j < 4; ++j) {
                if (rr[j] >= 0 && rr[j] < H && cc[j] >= 0 && cc[j] < W) {
                    idx[p * 4 + j] = rr[j] * W + cc[j];
                    wt[p * 4 + j] = float(ww[j]);
                }
            }
        }
    }
    const size_t planes = size_t(ds.n) * size_t(ds.channels);
    std::vector<float> tmp(plane);
    for (size_t q = 0; q < planes; ++q) {
        float * px = &ds.x[q * plane];
        std::copy(px, px + plane, tmp.begin());
        for (size_t p = 0; p < plane; ++p) {
            const int * ii = &idx[p * 4];
            const float * w = &wt[p * 4];
            px[p] = w[0] * tmp[ii[0]] + w[1] * tmp[ii[1]] + w[2] * tmp[ii[2]] + w[3] * tmp[ii[3]];
        }
    }
}

void flip(Dataset & ds, bool horizontal) {
    const int H = ds.height, W = ds.width;
    std::vector<int> src(size_t(H) * W);
    for (int r = 0; r < H; ++r)
        for (int c = 0; c < W; ++c) src[size_t(r) * W + c] = horizontal ? r * W + (W - 1 - c) : (H - 1 - r) * W + c;
    gather_planes(ds, src);
}

// Fixed permutation of pixel positions (images: the same for every channel) or of features,
// drawn from Rng(seed_for(perm_seed, "data.transform.permute")) only: train and test agree.
void permute(Dataset & ds, uint64_t perm_seed) {
    const size_t plane = ds.is_image() ? size_t(ds.height) * ds.width : size_t(ds.d);
    std::vector<int> src(plane);
    for (size_t i = 0; i < plane; ++i) src[i] = int(i);
    Rng rng(seed_for(perm_seed, "data.transform.permute"));
    for (size_t i = plane; i > 1; --i) std::swap(src[i - 1], src[rng.below(i)]);
    if (ds.is_image()) {
        gather_planes(ds, src);
    } else {
        std::vector<float> tmp(plane);
        for (int64_t s = 0; s < ds.n; ++s) {
            float * p = &ds.x[size_t(s) * plane];
            std::copy(p, p + plane, tmp.begin());
            for (size_t i = 0; i < plane; ++i) p[i] = tmp[src[i]];
        }
    }
}

// Separable Gaussian blur, radius ceil(3 sigma), edges clamped (replicated).
void blur(Dataset & ds, double sigma) {
    const int H = ds.height, W = ds.width;
    const int R = std::max(1, int(std::ceil(3.0 * sigma)));
    std::vector<float> k(size_t(2 * R + 1));
    double sum = 0.0;
    // (i / sigma)^2, not i^2 / sigma^2: a tiny sigma squares to 0 and 0 / 0 is NaN
    auto w = [&](int i) {
        const double z = i / sigma;
        return std::exp(-0.5 * z * z);
    };
    for (int i = -R; i <= R; ++i) sum += w(i);
    for (int i = -R; i <= R; ++i) k[i + R] = float(w(i) / sum);
    const size_t plane = size_t(H) * W;
    const size_t planes = size_t(ds.n) * size_t(ds.channels);
    std::vector<float> tmp(plane);                      // (H,W) after the horizontal pass
    std::vector<float> pad(size_t(W + 2 * R));          // one row with R replicated pixels each side
    std::vector<const float *> rows(size_t(H + 2 * R)); // tmp rows, clamped at the edges
    for (int r = -R; r < H + R; ++r) rows[size_t(r + R)] = &tmp[size_t(std::clamp(r, 0, H - 1)) * W];
    for (size_t q = 0; q < planes; ++q) {
        float * px = &ds.x[q * plane];
        // horizontal: px -> tmp
        for (int r = 0; r < H; ++r) {
            const float * row = px + size_t(r) * W;
            std::fill(pad.begin(), pad.begin() + R, row[0]);
            std::copy(row, row + W, pad.begin() + R);
            std::fill(pad.begin() + R + W, pad.end(), row[W - 1]);
            float * out = &tmp[size_t(r) * W];
            std::fill(out, out + W, 0.f);
            for (int i = 0; i <= 2 * R; ++i) {
                const float ki = k[size_t(i)];
                const float * src = &pad[size_t(i)];
                for (int c = 0; c < W; ++c) out[c] += ki * src[c];
            }
        }
        // vertical: tmp -> px
        for (int r = 0; r < H; ++r) {
            float * out = px + size_t(r) * W;
            std::fill(out, out + W, 0.f);
            for (int i = 0; i <= 2 * R; ++i) {
                const float ki = k[size_t(i)];
                const float * src = rows[size_t(r + i)];
                for (int c = 0; c < W; ++c) out[c] += ki * src[c];
            }
        }
    }
}

} // namespace

Dataset subset_classes(const Dataset & src, const std::vector<int> & classes, bool relabel) {
    if (classes.empty()) return src;
    // map source label -> new label (-1 = dropped)
    std::vector<int> map(size_t(std::max(src.n_classes, 0)), -1);
    for (size_t i = 0; i < classes.size(); ++i) {
        const int c = classes[i];
        if (c < 0 || c >= src.n_classes) {
            fail_spec("class " + std::to_string(c) + " is not in the source (classes 0.." +
                      std::to_string(src.n_classes - 1) + ")");
        }
        if (map[c] >= 0) fail_spec("class " + std::to_string(c) + " listed twice");
        map[c] = relabel ? int(i) : c;
    }
    Dataset out;
    out.d = src.d;
    out.channels = src.channels;
    out.height = src.height;
    out.width = src.width;
    out.n_classes = relabel ? int(classes.size()) : src.n_classes;
    int64_t keep = 0;
    auto mapped = [&](int32_t y) { return (y >= 0 && size_t(y) < map.size()) ? map[size_t(y)] : -1; };
    for (int64_t s = 0; s < src.n; ++s) keep += (mapped(src.y[s]) >= 0);
    out.n = keep;
    out.x.resize(size_t(keep) * size_t(src.d));
    out.y.resize(size_t(keep));
    out.task.resize(size_t(keep));
    int64_t o = 0;
    for (int64_t s = 0; s < src.n; ++s) {
        const int m = mapped(src.y[s]);
        if (m < 0) continue;
        std::copy_n(&src.x[size_t(s) * src.d], src.d, &out.x[size_t(o) * src.d]);
        out.y[o] = m;
        out.task[o] = src.task[s];
        ++o;
    }
    return out;
}

void apply_transform(Dataset & ds, const TransformConfig & t, uint64_t seed) {
    const std::string & kind = t.kind;
    if (kind == "rotate90") {
        need_image(ds, kind);
        rotate90(ds, t.k);
    } else if (kind == "rotate") {
        need_image(ds, kind);
        if (!std::isfinite(t.angle)) fail_spec("transform 'rotate': angle must be finite");
        rotate_any(ds, t.angle);
    } else if (kind == "hflip" || kind == "vflip") {
        need_image(ds, kind);
        flip(ds, kind == "hflip");
    } else if (kind == "invert") {
        for (float & v : ds.x) v = 1.0f - v;
    } else if (kind == "permute") {
        permute(ds, t.seed);
    } else if (kind == "noise") {
        if (!(t.std >= 0.0) || !std::isfinite(t.std)) fail_spec("transform 'noise': std must be >= 0");
        // sequential draws over the (n,d) features: fixed for a given (seed, t.seed) and data set.
        // Box-Muller using both outputs of each pair of uniforms.
        Rng rng(seed_for(seed, "data.transform.noise." + std::to_string(t.seed)));
        const double sd = t.std;
        const bool clip = ds.is_image();
        const size_t total = ds.x.size();
        for (size_t i = 0; i < total; i += 2) {
            double u1 = rng.uniform();
            const double u2 = rng.uniform();
            if (u1 < 1e-300) u1 = 1e-300;
            const double r = sd * std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
            float z[2] = {float(ds.x[i] + r * std::cos(a)), i + 1 < total ? float(ds.x[i + 1] + r * std::sin(a)) : 0.f};
            if (clip) {
                z[0] = std::clamp(z[0], 0.0f, 1.0f);
                z[1] = std::clamp(z[1], 0.0f, 1.0f);
            }
            ds.x[i] = z[0];
            if (i + 1 < total) ds.x[i + 1] = z[1];
        }
    } else if (kind == "blur") {
        need_image(ds, kind);
        if (!(t.sigma > 0.0) || !std::isfinite(t.sigma)) fail_spec("transform 'blur': sigma must be > 0");
        blur(ds, t.sigma);
    } else {
        fail_spec("unknown transform '" + kind +
                  "' (expected rotate90, rotate, hflip, vflip, invert, permute, noise or blur)");
    }
}

void append(Dataset & a, const Dataset & b) {
    if (a.n == 0 && a.x.empty() && a.d == 0) {
        a = b;
        return;
    }
    if (a.d != b.d || a.channels != b.channels || a.height != b.height || a.width != b.width) {
        fail_spec("cannot concatenate data sets of different shapes (d " + std::to_string(a.d) + " vs " +
                  std::to_string(b.d) + ", image " + std::to_string(a.channels) + "x" + std::to_string(a.height) + "x" +
                  std::to_string(a.width) + " vs " + std::to_string(b.channels) + "x" + std::to_string(b.height) + "x" +
                  std::to_string(b.width) + ")");
    }
    a.x.insert(a.x.end(), b.x.begin(), b.x.end());
    a.y.insert(a.y.end(), b.y.begin(), b.y.end());
    a.task.insert(a.task.end(), b.task.begin(), b.task.end());
    a.n += b.n;
    a.n_classes = std::max(a.n_classes, b.n_classes);
}

void augment_batch(float * x, int B, int C, int H, int W, const AugmentConfig & a, Rng & rng, float * scratch) {
    if (!a.hflip && a.shift <= 0) return;
    const size_t d = (size_t)C * H * W;
    for (int b = 0; b < B; ++b) {
        float * img = x + (size_t)b * d;
        const bool flip = a.hflip && rng.uniform() < 0.5;
        const int dx = a.shift > 0 ? (int)rng.below(2 * a.shift + 1) - a.shift : 0;
        const int dy = a.shift > 0 ? (int)rng.below(2 * a.shift + 1) - a.shift : 0;
        if (!flip && dx == 0 && dy == 0) continue;
        std::copy(img, img + d, scratch);
        for (int c = 0; c < C; ++c)
            for (int yy = 0; yy < H; ++yy) {
                const int sy = std::clamp(yy - dy, 0, H - 1);
                for (int xx = 0; xx < W; ++xx) {
                    int sx = std::clamp(xx - dx, 0, W - 1);
                    if (flip) sx = W - 1 - sx;
                    img[((size_t)c * H + yy) * W + xx] = scratch[((size_t)c * H + sy) * W + sx];
                }
            }
    }
}

} // namespace moe::data

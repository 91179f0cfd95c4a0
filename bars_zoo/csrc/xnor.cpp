// XNOR-popcount binary convolution for bars_zoo.deploy (CPU, multi-threaded).
//
// Binary convolution as in XNOR-Net (Rastegari et al., ECCV 2016) with BARS' single scale beta
// (Zhao et al. 2021, Eq. 1):  y = BN(beta * dot) [+ residual],   dot = sum sign(x) * sign(W).
// With both signs stored as bits (1 = -1, 0 = +1) and K the number of +-1 products,
//     dot = K - 2 * popcount(x XOR w).
//
// Layouts (all int64 words, bit j of word w <-> channel 64*w + j; spare bits are 0):
//   packed activations  [B, NW, H, W]          NW = ceil(C_in / 64), one word plane per 64 channels
//   packed weights      [O_pad, k*k, NW]       O_pad = O rounded up to 8 (spare rows are 0)
// Padding rule: pixels outside the image are sign(x) = +1, i.e. an all-zero word - exactly the
// training-time "+1 padding" of bars_zoo.binary, so no correction term is needed.  ``shift = 1``
// reads the input moved up-left by one pixel with +1 fill (the second conv of the binary
// factorized reduce), without materialising the shifted tensor.
//
// The epilogue reproduces PyTorch's eval-mode batch norm bit for bit:
//     t = float(dot) * beta;  y = t * alpha[c] + shift[c];  alpha = (1/sqrt(var + eps)) * gamma,
//     shift = bias - mean * alpha,
// where each '*'/'+' pair is fused (one rounding) or not according to ``mode`` (bit 0: shift
// term, bit 1: apply), which Python calibrates once against torch.nn.functional.batch_norm.
// Build with -ffp-contract=off so that unfused means unfused.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>

#if defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__)
#include <immintrin.h>
#define BARS_XNOR_AVX512 1
#else
#define BARS_XNOR_AVX512 0
#endif

namespace {

constexpr int64_t kOutBlock = 8;   // output channels per register block
constexpr int64_t kLanes = 8;      // output pixels per vector (8 x int64 / 8 x float)
constexpr int64_t kPixVecs = 2;    // pixel vectors per tile
// Smallest amount of work (64-bit word operations / floats) worth a thread: below it a layer runs
// on one thread, which saves the fork/join of tiny layers (and their stalls on a busy machine).
constexpr int64_t kMinWorkPerThread = 1 << 16;

inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(1, work_per_item));
}

struct Geometry {
  int64_t B, C, NW, H, W, O, O_pad, k, stride, pad, shift, Ho, Wo, K;
};

std::string kernel_isa() {
#if BARS_XNOR_AVX512
  return "avx512-vpopcntdq";
#else
  return "scalar-popcount";
#endif
}

// Per-channel affine of PyTorch's eval batch norm (aten batch_norm_kernel.cpp, float opmath).
void bn_terms(const Geometry& g, const float* mean, const float* var, const float* gamma,
              const float* bias, double eps, int64_t mode, float* alpha, float* shift) {
  const float eps_f = static_cast<float>(eps);
  for (int64_t c = 0; c < g.O; ++c) {
    const float invstd = 1.0f / std::sqrt(var[c] + eps_f);
    const float a = invstd * (gamma ? gamma[c] : 1.0f);
    const float b = bias ? bias[c] : 0.0f;
    alpha[c] = a;
    shift[c] = (mode & 1) ? std::fma(-mean[c], a, b) : b - mean[c] * a;
  }
}

inline float epilogue_scalar(int64_t dot, bool raw, float beta, float a, float s, int64_t mode) {
  const float d = static_cast<float>(dot);
  if (raw) return d;
  const float t = d * beta;
  return (mode & 2) ? std::fma(t, a, s) : t * a + s;
}

// --------------------------------------------------------------------------- packing

void pack_kernel(const float* x, int64_t* out, int64_t B, int64_t C, int64_t NW, int64_t HW) {
  at::parallel_for(0, B * NW, grain_for(64 * HW), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / NW, w = i % NW;
      uint64_t* dst = reinterpret_cast<uint64_t*>(out + i * HW);
      std::fill(dst, dst + HW, uint64_t{0});
      const int64_t c0 = w * 64, nc = std::min<int64_t>(64, C - c0);
      int64_t p0 = 0;
#if BARS_XNOR_AVX512
      // 16 pixels at a time: one compare gives a 16-bit mask, OR-ed as bit j into 16 words.
      const __m512 zero = _mm512_setzero_ps();
      for (; p0 + 16 <= HW; p0 += 16) {
        __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
        const float* src = x + (b * C + c0) * HW + p0;
        for (int64_t j = 0; j < nc; ++j, src += HW) {
          const __mmask16 neg = _mm512_cmp_ps_mask(_mm512_loadu_ps(src), zero, _CMP_LT_OQ);
          const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t{1} << j));
          lo = _mm512_mask_or_epi64(lo, static_cast<__mmask8>(neg), lo, bit);
          hi = _mm512_mask_or_epi64(hi, static_cast<__mmask8>(neg >> 8), hi, bit);
        }
        _mm512_storeu_si512(dst + p0, lo);
        _mm512_storeu_si512(dst + p0 + 8, hi);
      }
#endif
      for (int64_t j = 0; j < nc; ++j) {
        const float* src = x + (b * C + c0 + j) * HW;
        const uint64_t bit = uint64_t{1} << j;
        for (int64_t p = p0; p < HW; ++p) {
          dst[p] |= (src[p] < 0.0f) ? bit : uint64_t{0};  // sign(0) = sign(-0) = sign(nan) = +1
        }
      }
    }
  });
}

// --------------------------------------------------------------------------- scalar kernel

void conv_scalar(const Geometry& g, const int64_t* X, const int64_t* Wt, float* out,
                 const float* res, bool raw, float beta, const float* alpha, const float* shift,
                 int64_t mode) {
  const int64_t kk = g.k * g.k;
  const int64_t row_work = g.Wo * kk * g.NW;
  at::parallel_for(0, g.B * g.O * g.Ho, grain_for(row_work), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t oy = i % g.Ho, o = (i / g.Ho) % g.O, b = i / (g.Ho * g.O);
      const uint64_t* wo = reinterpret_cast<const uint64_t*>(Wt + o * kk * g.NW);
      const int64_t base = ((b * g.O + o) * g.Ho + oy) * g.Wo;
      for (int64_t ox = 0; ox < g.Wo; ++ox) {
        int64_t diff = 0;
        for (int64_t ky = 0; ky < g.k; ++ky) {
          const int64_t iy = oy * g.stride + ky - g.pad + g.shift;
          const bool row_ok = iy >= g.shift && iy < g.H;
          for (int64_t kx = 0; kx < g.k; ++kx) {
            const int64_t ix = ox * g.stride + kx - g.pad + g.shift;
            const bool ok = row_ok && ix >= g.shift && ix < g.W;
            const uint64_t* wt = wo + (ky * g.k + kx) * g.NW;
            for (int64_t w = 0; w < g.NW; ++w) {
              const uint64_t xw =
                  ok ? static_cast<uint64_t>(X[((b * g.NW + w) * g.H + iy) * g.W + ix]) : 0;
              diff += __builtin_popcountll(xw ^ wt[w]);
            }
          }
        }
        float y = epilogue_scalar(g.K - 2 * diff, raw, beta, raw ? 0.f : alpha[o],
                                  raw ? 0.f : shift[o], mode);
        if (res) y = y + res[base + ox];
        out[base + ox] = y;
      }
    }
  });
}

// --------------------------------------------------------------------------- AVX-512 kernel

#if BARS_XNOR_AVX512

inline __mmask8 lane_range(int64_t first, int64_t stop) {  // lanes l with first <= l < stop
  first = std::max<int64_t>(first, 0);
  stop = std::min<int64_t>(stop, kLanes);
  if (stop <= first) return 0;
  return static_cast<__mmask8>(((1u << stop) - 1u) & ~((1u << first) - 1u));
}

inline const long long* offset_ptr(const int64_t* row, int64_t ix) {
  return reinterpret_cast<const long long*>(reinterpret_cast<intptr_t>(row) +
                                            ix * static_cast<intptr_t>(sizeof(int64_t)));
}

// Words of input row ``row`` at columns ix0 + stride * l (l = 0..7); out-of-image lanes are 0 (+1).
inline __m512i load_pixels(const int64_t* row, int64_t ix0, int64_t stride, int64_t lo,
                           int64_t W) {
  if (stride == 1) {
    const __mmask8 m = lane_range(lo - ix0, W - ix0);
    return _mm512_maskz_loadu_epi64(m, offset_ptr(row, ix0));
  }
  const __mmask8 m0 = lane_range(lo - ix0, W - ix0);
  const __mmask8 m1 = lane_range(lo - ix0 - 8, W - ix0 - 8);
  const __m512i a = _mm512_maskz_loadu_epi64(m0, offset_ptr(row, ix0));
  const __m512i b = _mm512_maskz_loadu_epi64(m1, offset_ptr(row, ix0 + 8));
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_permutex2var_epi64(a, even, b);
}

void conv_avx512(const Geometry& g, const int64_t* X, const int64_t* Wt, float* out,
                 const float* res, bool raw, float beta, const float* alpha, const float* shift,
                 int64_t mode) {
  const int64_t kk = g.k * g.k;
  const int64_t vecs_per_row = (g.Wo + kLanes - 1) / kLanes;
  const int64_t n_vecs = g.B * g.Ho * vecs_per_row;
  const int64_t n_tiles = (n_vecs + kPixVecs - 1) / kPixVecs;
  const int64_t n_oblk = g.O_pad / kOutBlock;
  const int64_t item_work = kOutBlock * kPixVecs * kLanes * kk * g.NW;
  at::parallel_for(0, n_tiles * n_oblk, grain_for(item_work), [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t tile = item / n_oblk, ob = item % n_oblk;
      int64_t vb[kPixVecs], voy[kPixVecs], vox[kPixVecs];
      bool vok[kPixVecs];
      for (int64_t p = 0; p < kPixVecs; ++p) {
        const int64_t v = tile * kPixVecs + p;
        vok[p] = v < n_vecs;
        const int64_t vv = vok[p] ? v : 0;
        vox[p] = (vv % vecs_per_row) * kLanes;
        voy[p] = (vv / vecs_per_row) % g.Ho;
        vb[p] = vv / (vecs_per_row * g.Ho);
      }
      __m512i acc[kOutBlock][kPixVecs];
#pragma GCC unroll 8
      for (int64_t r = 0; r < kOutBlock; ++r)
#pragma GCC unroll 2
        for (int64_t p = 0; p < kPixVecs; ++p) acc[r][p] = _mm512_setzero_si512();
      const int64_t* wblock = Wt + ob * kOutBlock * kk * g.NW;
      for (int64_t ky = 0; ky < g.k; ++ky) {
        const int64_t* rows[kPixVecs];
        for (int64_t p = 0; p < kPixVecs; ++p) {
          const int64_t iy = voy[p] * g.stride + ky - g.pad + g.shift;
          rows[p] = (vok[p] && iy >= g.shift && iy < g.H) ? X + (vb[p] * g.NW * g.H + iy) * g.W
                                                          : nullptr;
        }
        for (int64_t kx = 0; kx < g.k; ++kx) {
          const int64_t tap = ky * g.k + kx;
          for (int64_t w = 0; w < g.NW; ++w) {
            __m512i xv[kPixVecs];
#pragma GCC unroll 2
            for (int64_t p = 0; p < kPixVecs; ++p) {
              xv[p] = rows[p] ? load_pixels(rows[p] + w * g.H * g.W,
                                            vox[p] * g.stride + kx - g.pad + g.shift, g.stride,
                                            g.shift, g.W)
                              : _mm512_setzero_si512();
            }
            const int64_t* wp = wblock + tap * g.NW + w;
#pragma GCC unroll 8
            for (int64_t r = 0; r < kOutBlock; ++r) {
              const __m512i wv = _mm512_set1_epi64(wp[r * kk * g.NW]);
#pragma GCC unroll 2
              for (int64_t p = 0; p < kPixVecs; ++p) {
                acc[r][p] = _mm512_add_epi64(
                    acc[r][p], _mm512_popcnt_epi64(_mm512_xor_si512(xv[p], wv)));
              }
            }
          }
        }
      }
      // Spill once, after the loops, so the accumulators stay in registers inside them.
      alignas(64) int64_t counts[kOutBlock][kPixVecs][kLanes];
#pragma GCC unroll 8
      for (int64_t r = 0; r < kOutBlock; ++r)
#pragma GCC unroll 2
        for (int64_t p = 0; p < kPixVecs; ++p) _mm512_store_si512(counts[r][p], acc[r][p]);
      const __m512i kvec = _mm512_set1_epi64(g.K);
      const __m256 beta_v = _mm256_set1_ps(beta);
      for (int64_t r = 0; r < kOutBlock; ++r) {
        const int64_t o = ob * kOutBlock + r;
        if (o >= g.O) break;
        const __m256 a = _mm256_set1_ps(raw ? 0.f : alpha[o]);
        const __m256 s = _mm256_set1_ps(raw ? 0.f : shift[o]);
        for (int64_t p = 0; p < kPixVecs; ++p) {
          if (!vok[p]) continue;
          const __mmask8 m = lane_range(0, g.Wo - vox[p]);
          const __m512i dot =
              _mm512_sub_epi64(kvec, _mm512_slli_epi64(_mm512_load_si512(counts[r][p]), 1));
          __m256 y = _mm512_cvtepi64_ps(dot);
          if (!raw) {
            const __m256 t = _mm256_mul_ps(y, beta_v);
            y = (mode & 2) ? _mm256_fmadd_ps(t, a, s) : _mm256_add_ps(_mm256_mul_ps(t, a), s);
          }
          const int64_t base = ((vb[p] * g.O + o) * g.Ho + voy[p]) * g.Wo + vox[p];
          if (res) y = _mm256_add_ps(y, _mm256_maskz_loadu_ps(m, res + base));
          _mm256_mask_storeu_ps(out + base, m, y);
        }
      }
    }
  });
}

#endif  // BARS_XNOR_AVX512

// --------------------------------------------------------------------------- ops

at::Tensor pack_signs(const at::Tensor& x_in) {
  TORCH_CHECK(x_in.dim() == 4, "pack_signs: expected (B, C, H, W), got ", x_in.sizes());
  TORCH_CHECK(x_in.device().is_cpu(), "pack_signs: CPU tensors only");
  const at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t NW = (C + 63) / 64;
  at::Tensor out = at::empty({B, NW, H, W}, x.options().dtype(at::kLong));
  if (out.numel() > 0) pack_kernel(x.data_ptr<float>(), out.data_ptr<int64_t>(), B, C, NW, H * W);
  return out;
}

at::Tensor pack_weight(const at::Tensor& w_in) {
  TORCH_CHECK(w_in.dim() == 4 && w_in.size(2) == w_in.size(3),
              "pack_weight: expected (O, C, k, k), got ", w_in.sizes());
  const at::Tensor w = w_in.to(at::kFloat).contiguous();
  const int64_t O = w.size(0), C = w.size(1), k = w.size(2), kk = k * k;
  const int64_t NW = (C + 63) / 64, O_pad = (O + kOutBlock - 1) / kOutBlock * kOutBlock;
  at::Tensor out = at::zeros({O_pad, kk, NW}, w.options().dtype(at::kLong));
  const float* src = w.data_ptr<float>();
  uint64_t* dst = reinterpret_cast<uint64_t*>(out.data_ptr<int64_t>());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < kk; ++t)
        if (src[(o * C + c) * kk + t] < 0.0f)
          dst[(o * kk + t) * NW + c / 64] |= uint64_t{1} << (c % 64);
  return out;
}

at::Tensor bconv(const at::Tensor& xp_in, const at::Tensor& wp_in, int64_t in_channels,
                 int64_t kernel_size, int64_t stride, int64_t shift, double beta,
                 const std::optional<at::Tensor>& mean, const std::optional<at::Tensor>& var,
                 const std::optional<at::Tensor>& gamma, const std::optional<at::Tensor>& bias,
                 double eps, int64_t mode, const std::optional<at::Tensor>& residual) {
  TORCH_CHECK(xp_in.dim() == 4 && xp_in.scalar_type() == at::kLong,
              "bconv: packed input must be int64 (B, NW, H, W)");
  TORCH_CHECK(wp_in.dim() == 3 && wp_in.scalar_type() == at::kLong,
              "bconv: packed weight must be int64 (O_pad, k*k, NW)");
  TORCH_CHECK(kernel_size == 1 || kernel_size == 3, "bconv: kernel_size must be 1 or 3");
  TORCH_CHECK(stride == 1 || stride == 2, "bconv: stride must be 1 or 2");
  TORCH_CHECK(shift == 0 || shift == 1, "bconv: shift must be 0 or 1");
  TORCH_CHECK(xp_in.device().is_cpu() && wp_in.device().is_cpu(), "bconv: CPU tensors only");
  const at::Tensor xp = xp_in.contiguous(), wp = wp_in.contiguous();
  Geometry g{};
  g.B = xp.size(0);
  g.NW = xp.size(1);
  g.H = xp.size(2);
  g.W = xp.size(3);
  g.C = in_channels;
  g.k = kernel_size;
  g.stride = stride;
  g.pad = kernel_size / 2;
  g.shift = shift;
  g.O_pad = wp.size(0);
  g.Ho = (g.H - 1) / stride + 1;
  g.Wo = (g.W - 1) / stride + 1;
  g.K = in_channels * kernel_size * kernel_size;
  TORCH_CHECK(g.NW == (in_channels + 63) / 64 && wp.size(2) == g.NW,
              "bconv: packed input/weight words do not match in_channels=", in_channels);
  TORCH_CHECK(wp.size(1) == kernel_size * kernel_size && g.O_pad % kOutBlock == 0,
              "bconv: packed weight shape ", wp.sizes(), " does not fit kernel_size=", kernel_size);
  const bool raw = !mean.has_value();
  g.O = raw ? g.O_pad : mean->numel();
  TORCH_CHECK(g.O <= g.O_pad && g.O > g.O_pad - kOutBlock, "bconv: ", g.O,
              " batch-norm channels for ", g.O_pad, " packed output rows");
  at::Tensor out = at::empty({g.B, g.O, g.Ho, g.Wo}, xp.options().dtype(at::kFloat));
  if (out.numel() == 0) return out;

  at::Tensor alpha_t, shift_t, mean_c, var_c, gamma_c, bias_c;
  if (!raw) {
    TORCH_CHECK(var.has_value(), "bconv: running_var missing");
    mean_c = mean->to(at::kFloat).contiguous();
    var_c = var->to(at::kFloat).contiguous();
    if (gamma.has_value()) gamma_c = gamma->to(at::kFloat).contiguous();
    if (bias.has_value()) bias_c = bias->to(at::kFloat).contiguous();
    alpha_t = at::empty({g.O}, out.options());
    shift_t = at::empty({g.O}, out.options());
    bn_terms(g, mean_c.data_ptr<float>(), var_c.data_ptr<float>(),
             gamma_c.defined() ? gamma_c.data_ptr<float>() : nullptr,
             bias_c.defined() ? bias_c.data_ptr<float>() : nullptr, eps, mode,
             alpha_t.data_ptr<float>(), shift_t.data_ptr<float>());
  }
  at::Tensor res_c;
  if (residual.has_value()) {
    TORCH_CHECK(residual->sizes() == out.sizes(), "bconv: residual shape ", residual->sizes(),
                " != output shape ", out.sizes());
    res_c = residual->to(at::kFloat).contiguous();
  }
  const float* res = res_c.defined() ? res_c.data_ptr<float>() : nullptr;
  const float* alpha = raw ? nullptr : alpha_t.data_ptr<float>();
  const float* shf = raw ? nullptr : shift_t.data_ptr<float>();
#if BARS_XNOR_AVX512
  conv_avx512(g, xp.data_ptr<int64_t>(), wp.data_ptr<int64_t>(), out.data_ptr<float>(), res, raw,
              static_cast<float>(beta), alpha, shf, mode);
#else
  conv_scalar(g, xp.data_ptr<int64_t>(), wp.data_ptr<int64_t>(), out.data_ptr<float>(), res, raw,
              static_cast<float>(beta), alpha, shf, mode);
#endif
  return out;
}

// The scalar epilogue on a float tensor: used once to calibrate ``mode`` against torch.
at::Tensor bn_eval(const at::Tensor& x_in, const at::Tensor& mean, const at::Tensor& var,
                   const at::Tensor& gamma, const at::Tensor& bias, double eps, int64_t mode) {
  const at::Tensor x = x_in.to(at::kFloat).contiguous();
  TORCH_CHECK(x.dim() == 4, "bn_eval: expected (B, C, H, W)");
  Geometry g{};
  g.O = x.size(1);
  at::Tensor alpha = at::empty({g.O}, x.options()), shift = at::empty({g.O}, x.options());
  const at::Tensor m = mean.to(at::kFloat).contiguous(), v = var.to(at::kFloat).contiguous();
  const at::Tensor ga = gamma.to(at::kFloat).contiguous(), bi = bias.to(at::kFloat).contiguous();
  bn_terms(g, m.data_ptr<float>(), v.data_ptr<float>(), ga.data_ptr<float>(), bi.data_ptr<float>(),
           eps, mode, alpha.data_ptr<float>(), shift.data_ptr<float>());
  at::Tensor out = at::empty_like(x);
  const int64_t B = x.size(0), HW = x.size(2) * x.size(3);
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const float* a = alpha.data_ptr<float>();
  const float* s = shift.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < g.O; ++c)
      for (int64_t p = 0; p < HW; ++p) {
        const int64_t i = (b * g.O + c) * HW + p;
        dst[i] = (mode & 2) ? std::fma(src[i], a[c], s[c]) : src[i] * a[c] + s[c];
      }
  return out;
}

std::string isa() { return kernel_isa(); }

}  // namespace

TORCH_LIBRARY(bars_zoo, m) {
  m.def("pack_signs(Tensor x) -> Tensor");
  m.def("pack_weight(Tensor w) -> Tensor");
  m.def(
      "bconv(Tensor xp, Tensor wp, int in_channels, int kernel_size, int stride, int shift, "
      "float beta, Tensor? mean, Tensor? var, Tensor? gamma, Tensor? bias, float eps, int mode, "
      "Tensor? residual) -> Tensor");
  m.def("bn_eval(Tensor x, Tensor mean, Tensor var, Tensor gamma, Tensor bias, float eps, "
        "int mode) -> Tensor");
  m.def("isa() -> str", &isa);
}

TORCH_LIBRARY_IMPL(bars_zoo, CPU, m) {
  m.impl("pack_signs", &pack_signs);
  m.impl("pack_weight", &pack_weight);
  m.impl("bconv", &bconv);
  m.impl("bn_eval", &bn_eval);
}

// GGML block formats, decoded one block at a time.
//
// Byte layouts (QK_K = 256 elements per K-quant super-block; fp16 = IEEE half):
//   Q4_0  (32, 18 B): d fp16 | qs[16]  nibbles; x[j] = lo(qs[j]), x[j+16] = hi(qs[j]);
//                     y = d * (x - 8)
//   Q4_1  (32, 20 B): d, m fp16 | qs[16]; y = d * x + m
//   Q5_0  (32, 22 B): d fp16 | qh u32 | qs[16]; 5th bit of x[j] is bit j of qh;
//                     y = d * (x - 16)
//   Q5_1  (32, 24 B): d, m fp16 | qh u32 | qs[16]; y = d * x + m
//   Q8_0  (32, 34 B): d fp16 | qs[32] int8; y = qs * d
//   Q2_K (256, 84 B): scales[16] (lo nibble scale, hi nibble min) | qs[64] | d, dmin fp16;
//                     16 groups of 16; element 128h + 32j + l uses bits 2j of qs[32h + l];
//                     y = (d * sc) * q - dmin * m
//   Q3_K (256,110 B): hmask[32] | qs[64] | scales[12] (16 packed 6-bit, offset 32) | d fp16;
//                     2 low bits as Q2_K, high bit b of element e is bit e/32 of hmask[e%32];
//                     y = (d * (sc - 32)) * (q - (b ? 0 : 4))
//   Q4_K (256,144 B): d, dmin fp16 | scales[12] (8 packed 6-bit scales and mins) | qs[128];
//                     8 groups of 32; element 64c + 32h + l = nibble h of qs[32c + l];
//                     y = (d * sc) * q - dmin * m
//   Q5_K (256,176 B): d, dmin fp16 | scales[12] | qh[32] | qs[128]; 5th bit of element e is
//                     bit e/32 of qh[e%32]; otherwise as Q4_K
//   Q6_K (256,210 B): ql[128] | qh[64] | scales[16] int8 | d fp16; 16 groups of 16;
//                     element 128h + 32j + l: low nibble (j&1 ? ql[64h+32+l] : ql[64h+l]),
//                     taking the high nibble for j >= 2, and bits 2j of qh[32h + l];
//                     y = (d * sc) * (q - 32)
// Products are evaluated in the same order as ggml's reference dequantisers so
// that results are bit-identical to them (and to gguf-py).
#include "clrp/io/dequant.hpp"

#include <cstring>
#include <string>

#include "clrp/util/error.hpp"

namespace clrp::io {

namespace {

using u8 = std::uint8_t;

inline const u8* bytes(const std::byte* p) {
  return reinterpret_cast<const u8*>(p);
}

inline float fp16_at(const u8* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return half_to_float(h);
}

void dequant_q4_0(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 18, y += 32) {
    const float d = fp16_at(b);
    const u8* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
      y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
  }
}

void dequant_q4_1(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 20, y += 32) {
    const float d = fp16_at(b);
    const float m = fp16_at(b + 2);
    const u8* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
      y[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
    }
  }
}

void dequant_q5_0(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 22, y += 32) {
    const float d = fp16_at(b);
    std::uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const u8* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo - 16);
      y[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

void dequant_q5_1(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 24, y += 32) {
    const float d = fp16_at(b);
    const float m = fp16_at(b + 2);
    std::uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const u8* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = d * static_cast<float>(lo) + m;
      y[j + 16] = d * static_cast<float>(hi) + m;
    }
  }
}

void dequant_q8_0(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 34, y += 32) {
    const float d = fp16_at(b);
    const auto* qs = reinterpret_cast<const std::int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j)
      y[j] = static_cast<float>(qs[j]) * d;
  }
}

void dequant_q2_k(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 84, y += 256) {
    const u8* scales = b;
    const u8* qs = b + 16;
    const float d = fp16_at(b + 80);
    const float dmin = fp16_at(b + 82);
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        const int shift = 2 * j;
        for (int g = 0; g < 2; ++g) {  // two groups of 16 per 32 elements
          const u8 sc = scales[h * 8 + j * 2 + g];
          const float dl = d * static_cast<float>(sc & 0x0F);
          const float ml = dmin * static_cast<float>(sc >> 4);
          const u8* q = qs + h * 32 + g * 16;
          float* out = y + h * 128 + j * 32 + g * 16;
          for (int l = 0; l < 16; ++l)
            out[l] = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void dequant_q3_k(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 110, y += 256) {
    const u8* hmask = b;
    const u8* qs = b + 32;
    const u8* s = b + 96;
    const float d = fp16_at(b + 108);
    float dl[16];
    for (int k = 0; k < 16; ++k) {
      const int lo = k < 8 ? (s[k] & 0x0F) : (s[k - 8] >> 4);
      const int hi = (s[8 + (k & 3)] >> (2 * (k >> 2))) & 3;
      dl[k] = d * static_cast<float>((lo | (hi << 4)) - 32);
    }
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        const int shift = 2 * j;
        const int hbit = h * 4 + j;  // element e uses bit e / 32 of hmask[e % 32]
        for (int g = 0; g < 2; ++g) {
          const float scale = dl[h * 8 + j * 2 + g];
          const u8* q = qs + h * 32 + g * 16;
          const u8* hm = hmask + g * 16;
          float* out = y + h * 128 + j * 32 + g * 16;
          for (int l = 0; l < 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - (((hm[l] >> hbit) & 1) ? 0 : 4);
            out[l] = scale * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block.
inline void scale_min_k4(const u8* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequant_q4_k(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 144, y += 256) {
    const float d = fp16_at(b);
    const float dmin = fp16_at(b + 2);
    const u8* s = b + 4;
    const u8* qs = b + 16;
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      scale_min_k4(s, 2 * c, sc0, m0);
      scale_min_k4(s, 2 * c + 1, sc1, m1);
      const float d0 = d * static_cast<float>(sc0), mm0 = dmin * static_cast<float>(m0);
      const float d1 = d * static_cast<float>(sc1), mm1 = dmin * static_cast<float>(m1);
      const u8* q = qs + 32 * c;
      float* out = y + 64 * c;
      for (int l = 0; l < 32; ++l) {
        out[l] = d0 * static_cast<float>(q[l] & 0x0F) - mm0;
        out[l + 32] = d1 * static_cast<float>(q[l] >> 4) - mm1;
      }
    }
  }
}

void dequant_q5_k(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 176, y += 256) {
    const float d = fp16_at(b);
    const float dmin = fp16_at(b + 2);
    const u8* s = b + 4;
    const u8* qh = b + 16;
    const u8* qs = b + 48;
    for (int c = 0; c < 4; ++c) {
      int sc0, m0, sc1, m1;
      scale_min_k4(s, 2 * c, sc0, m0);
      scale_min_k4(s, 2 * c + 1, sc1, m1);
      const float d0 = d * static_cast<float>(sc0), mm0 = dmin * static_cast<float>(m0);
      const float d1 = d * static_cast<float>(sc1), mm1 = dmin * static_cast<float>(m1);
      const int b0 = 2 * c, b1 = 2 * c + 1;  // qh bit of the two sub-blocks
      const u8* q = qs + 32 * c;
      float* out = y + 64 * c;
      for (int l = 0; l < 32; ++l) {
        const int v0 = (q[l] & 0x0F) | (((qh[l] >> b0) & 1) << 4);
        const int v1 = (q[l] >> 4) | (((qh[l] >> b1) & 1) << 4);
        out[l] = d0 * static_cast<float>(v0) - mm0;
        out[l + 32] = d1 * static_cast<float>(v1) - mm1;
      }
    }
  }
}

void dequant_q6_k(const u8* b, float* y, std::int64_t nb) {
  for (std::int64_t i = 0; i < nb; ++i, b += 210, y += 256) {
    const u8* ql = b;
    const u8* qh = b + 128;
    const auto* sc = reinterpret_cast<const std::int8_t*>(b + 192);
    const float d = fp16_at(b + 208);
    for (int h = 0; h < 2; ++h) {
      const u8* l0 = ql + 64 * h;
      const u8* hh = qh + 32 * h;
      const std::int8_t* s = sc + 8 * h;
      float* out = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        const int q1 = ((l0[l] & 0x0F) | (((hh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((l0[l + 32] & 0x0F) | (((hh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((l0[l] >> 4) | (((hh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((l0[l + 32] >> 4) | (((hh[l] >> 6) & 3) << 4)) - 32;
        out[l] = (d * static_cast<float>(s[g + 0])) * static_cast<float>(q1);
        out[l + 32] = (d * static_cast<float>(s[g + 2])) * static_cast<float>(q2);
        out[l + 64] = (d * static_cast<float>(s[g + 4])) * static_cast<float>(q3);
        out[l + 96] = (d * static_cast<float>(s[g + 6])) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace

void dequantize(DType t, const std::byte* src, float* dst, std::int64_t n) {
  void (*fn)(const u8*, float*, std::int64_t) = nullptr;
  switch (t) {
    case DType::Q4_0:
      fn = dequant_q4_0;
      break;
    case DType::Q4_1:
      fn = dequant_q4_1;
      break;
    case DType::Q5_0:
      fn = dequant_q5_0;
      break;
    case DType::Q5_1:
      fn = dequant_q5_1;
      break;
    case DType::Q8_0:
      fn = dequant_q8_0;
      break;
    case DType::Q2_K:
      fn = dequant_q2_k;
      break;
    case DType::Q3_K:
      fn = dequant_q3_k;
      break;
    case DType::Q4_K:
      fn = dequant_q4_k;
      break;
    case DType::Q5_K:
      fn = dequant_q5_k;
      break;
    case DType::Q6_K:
      fn = dequant_q6_k;
      break;
    default:
      throw Error("dequantize: " + std::string(dtype_name(t)) +
                  " is not a quantised type supported by clrp");
  }
  const std::int64_t block = dtype_block_elements(t);
  if (n < 0 || n % block != 0)
    throw Error("dequantize: " + std::to_string(n) + " elements of " + std::string(dtype_name(t)) +
                " is not a whole number of " + std::to_string(block) + "-element blocks");
  if (n == 0) return;
  fn(bytes(src), dst, n / block);
}

}  // namespace clrp::io

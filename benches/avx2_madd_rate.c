// The arithmetic rate the AVX2 GEMM tiles are bound by, on the machine at hand: the inner-loop work of the int8
// 5x16 tile (per 4-byte reduction step: 5 weight-quad broadcasts, 10 x vpmaddubsw + vpmaddwd-by-ones + vpaddd into 10
// independent accumulators) and of the f32 6x16 tile (12 independent vfmadd231ps), run on registers and L1-resident
// data only, with no packing, no stores and no loop over panels. Prints multiply-accumulates per nanosecond for each
// and for the int8 step without its vpmaddwd (vpmaddubsw + vpaddw only, not exact: it only shows what the second
// multiply costs). Compare with the GEMM's own rate: multiply-accumulates of a stack (README) / its GEMM time
// (`avf-bel bench --stage visual` times the share `perf record` attributes to gemm_i8 / gemm_f32).
//
//   gcc -O2 -mavx2 -mfma -o /tmp/avx2_madd_rate benches/avx2_madd_rate.c && /tmp/avx2_madd_rate
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define STEPS 20000000L

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Keeps v in a register as far as the compiler knows, so no step can be hoisted or merged.
#define OPAQUE(v) __asm__ volatile("" : "+x"(v))

int main(void) {
  static uint8_t panel[64] __attribute__((aligned(32)));
  static int32_t weights[5];
  for (int i = 0; i < 64; i++) panel[i] = (uint8_t)(i * 37 % 128);
  for (int i = 0; i < 5; i++) weights[i] = 0x01020304 * (i + 1);
  volatile int32_t *wq = weights;
  __m256i x0 = _mm256_load_si256((const __m256i *)panel), x1 = _mm256_load_si256((const __m256i *)(panel + 32));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[10];
  for (int i = 0; i < 10; i++) acc[i] = _mm256_setzero_si256();
  int64_t check = 0;

  // int8 tile step: 5 rows x 16 pixels x 4 bytes = 320 multiply-accumulates; STEP(a, x, w) is one accumulator's update.
#define INT8_STEPS(SECONDS, STEP)                                   \
  do {                                                              \
    double t0 = now();                                              \
    for (long s = 0; s < STEPS; s++) {                              \
      OPAQUE(x0);                                                   \
      OPAQUE(x1);                                                   \
      _Pragma("GCC unroll 5") for (int r = 0; r < 5; r++) {         \
        __m256i w = _mm256_set1_epi32(wq[r]);                       \
        acc[2 * r] = STEP(acc[2 * r], x0, w);                       \
        acc[2 * r + 1] = STEP(acc[2 * r + 1], x1, w);               \
      }                                                             \
    }                                                               \
    SECONDS = now() - t0;                                           \
    for (int i = 0; i < 10; i++) check += _mm256_extract_epi32(acc[i], 0); \
  } while (0)
#define EXACT(a, x, w) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))
  // The same without the vpmaddwd (i16 sums, wrapping: a cost probe only).
#define PROBE(a, x, w) _mm256_add_epi16(a, _mm256_maddubs_epi16(x, w))
  double int8_s, ubs_s;
  INT8_STEPS(int8_s, EXACT);
  INT8_STEPS(ubs_s, PROBE);

  // f32 tile step: 6 rows x 16 pixels = 96 multiply-accumulates in 12 FMAs.
  static float fpanel[16] __attribute__((aligned(32)));
  static float fw[6];
  for (int i = 0; i < 16; i++) fpanel[i] = 1e-3f * i;
  for (int i = 0; i < 6; i++) fw[i] = 1e-3f * (i + 1);
  volatile float *fwq = fw;
  __m256 p0 = _mm256_load_ps(fpanel), p1 = _mm256_load_ps(fpanel + 8);
  __m256 facc[12];
  for (int i = 0; i < 12; i++) facc[i] = _mm256_setzero_ps();
  double t0 = now();
  for (long s = 0; s < STEPS; s++) {
    OPAQUE(p0);
    OPAQUE(p1);
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
      __m256 w = _mm256_set1_ps(fwq[r]);
      facc[2 * r] = _mm256_fmadd_ps(p0, w, facc[2 * r]);
      facc[2 * r + 1] = _mm256_fmadd_ps(p1, w, facc[2 * r + 1]);
    }
  }
  double f32_s = now() - t0;
  float fcheck = 0;
  for (int i = 0; i < 12; i++) fcheck += _mm256_cvtss_f32(facc[i]);

  printf("int8 5x16 step (vpmaddubsw + vpmaddwd + vpaddd): %.2f multiply-accumulates/ns\n", STEPS * 320.0 / int8_s * 1e-9);
  printf("  without the vpmaddwd (not exact; cost probe):  %.2f multiply-accumulates/ns\n", STEPS * 320.0 / ubs_s * 1e-9);
  printf("f32 6x16 step (12 x vfmadd231ps):                %.2f multiply-accumulates/ns\n", STEPS * 96.0 / f32_s * 1e-9);
  printf("(checksums %lld %g)\n", (long long)check, fcheck);
  return 0;
}

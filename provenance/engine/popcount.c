/* The two nearest of 256-bit binary descriptors (ORB) by Hamming distance, exhaustively, with AVX-512 or POPCNT.
 *
 * The ratio test of local-feature matching needs, for every descriptor of one set, its nearest and its second
 * nearest distance in another set, and the nearest's index. FAISS's binary flat index does this at ~1.7 ns a
 * distance on this project's machines (a heap of two per query); here eight distances are made at once with
 * AVX-512's 64-bit popcount (VPOPCNTQ) over the base set laid out as four planes of 64-bit words, and each of
 * the eight lanes keeps its own two smallest, merged at the end: ~0.16 ns a distance, the same numbers. A CPU
 * without AVX-512 VPOPCNTDQ but with AVX2 (AMD Zen 2 and 3, Intel desktop CPUs since Haswell) counts the bits of
 * four rows at once by a table of the sixteen nibbles' popcounts (PSHUFB), eight distances an iteration kept in
 * 32-bit lanes the same way: on a Zen 3 core ~1.0 ns a distance where the scalar POPCNT (four a distance) takes
 * ~1.6 (on a Zen 1 core, whose 256-bit operations are split in two, the table took 2.43 ns against POPCNT's 1.98:
 * there the scalar kernel is chosen). FAISS's binary flat index takes ~1.7 ns (a heap of two per query).
 *
 * Built as an optional extension (pyproject.toml): where it is not built, or the CPU lacks POPCNT (`supported()`
 * says which), provenance.engine.hamming uses FAISS instead, with the same results; `isa()` names the kernel the
 * searches run on and `use_isa()` sets a lower one (tests compare both with FAISS and numpy). The multi-index hash
 * search's probes and verification (`probe_ranges`, `verify_ranges`) run wherever the extension is built
 * (`portable()`; on x86-64, a CPU with POPCNT); the flat hash search's range search (`within`) on AVX-512 only (one
 * distance at a time, or four by AVX2's table, it is no faster than FAISS's). What the CPU runs is asked once, at
 * import.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define KMAX 256  /* the most neighbours k_nearest finds */
#define CAP 2048  /* its buffer of rows closer than the k-th best so far (> 2 KMAX) */

/* What this CPU runs, asked once when the module is imported (PyInit_popcount). */
static int avx512_ok = 0;  /* AVX-512F and VPOPCNTDQ: two_nearest, k_nearest eight distances at once */
static int avx2_ok = 0;  /* AVX2: four distances a register by a nibble table */
static int portable_ok = 0;  /* POPCNT on x86-64, always elsewhere: everything, one distance at a time */
enum { KERNEL_POPCNT, KERNEL_AVX2, KERNEL_AVX512 };
/* the kernel two_nearest, k_nearest and within run on: the widest this CPU runs, unless use_isa() */
static int kernel = KERNEL_POPCNT;

/* The Hamming distance of a 256-bit descriptor x to the one whose four 64-bit words are a, b, c, d. */
static inline int64_t dist4(const uint64_t *x, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return __builtin_popcountll(x[0] ^ a) + __builtin_popcountll(x[1] ^ b) + __builtin_popcountll(x[2] ^ c) +
           __builtin_popcountll(x[3] ^ d);
}

/* The two smallest distances (b1 < or = b2) and the nearest's row (bi) of x to rows [from, to) of the four planes
 * p0..p3, carried on from what *b1, *b2, *bi hold: one distance at a time. A row rarely comes closer than the second
 * nearest so far, so the branches are mostly not taken. */
static inline __attribute__((always_inline)) void two_nearest_rows(const uint64_t *x, const uint64_t *p0,
                                                                   const uint64_t *p1, const uint64_t *p2,
                                                                   const uint64_t *p3, Py_ssize_t from, Py_ssize_t to,
                                                                   int64_t *b1, int64_t *b2, int64_t *bi) {
    for (Py_ssize_t j = from; j < to; j++) {
        const int64_t d = dist4(x, p0[j], p1[j], p2[j], p3[j]);
        if (d < *b2) {
            if (d < *b1) {
                *b2 = *b1;
                *b1 = d;
                *bi = j;
            } else {
                *b2 = d;
            }
        }
    }
}

/* A query's answer from eight lanes that each kept their two smallest distances and their nearest's row over rows
 * [0, j): the lanes merged (at a tie, the lowest row), then rows [j, nb) one at a time. */
static inline __attribute__((always_inline)) void merge_lanes(const int64_t *lane1, const int64_t *lane2,
                                                              const int64_t *lanei, const uint64_t *x,
                                                              const uint64_t *planes, Py_ssize_t nb, Py_ssize_t j,
                                                              int32_t *d1, int32_t *d2, int64_t *i1) {
    int64_t b1 = 1 << 20, b2 = 1 << 20, bi = -1;
    for (int l = 0; l < 8; l++) {
        const int64_t v = lane1[l];
        if (v < b1 || (v == b1 && lanei[l] < bi)) {
            b2 = b1 < b2 ? b1 : b2;
            b1 = v;
            bi = lanei[l];
        } else if (v < b2) {
            b2 = v;
        }
        if (lane2[l] < b2) b2 = lane2[l];
    }
    two_nearest_rows(x, planes, planes + nb, planes + 2 * nb, planes + 3 * nb, j, nb, &b1, &b2, &bi);
    *d1 = (int32_t)b1;
    *d2 = (int32_t)b2;
    *i1 = bi;
}

static void release(Py_buffer *buffers, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&buffers[i]);
}

/* The k nearest (k <= KMAX) of each query among the base descriptors, ordered by (distance, row): the rows FAISS's
 * binary flat search returns (its heaps break ties by row). Distances are made eight at a time (AVX-512) or one at
 * a time (POPCNT); those under the k-th best so far are kept in a buffer (rarely: once k good ones are known, few
 * rows come closer), which is cut back to the k best when it fills. */

static Py_ssize_t keep_best(int32_t *cd, int64_t *ci, Py_ssize_t count, Py_ssize_t k, int32_t *tau) {
    /* the k best by (distance, row) of the buffer, left in row order; *tau: their worst distance */
    if (count <= k) return count;
    Py_ssize_t hist[258] = {0};
    for (Py_ssize_t c = 0; c < count; c++) hist[cd[c]]++;
    int32_t t = 0;
    Py_ssize_t below = 0;
    while (below + hist[t] < k) below += hist[t++];
    Py_ssize_t ties = k - below, out = 0;  /* rows at distance t kept: the first ones (lowest rows) */
    for (Py_ssize_t c = 0; c < count; c++) {
        if (cd[c] < t || (cd[c] == t && ties-- > 0)) {
            cd[out] = cd[c];
            ci[out] = ci[c];
            out++;
        }
    }
    *tau = t;
    return out;
}

/* A group's k best, ordered by (distance, row) into dist and rows (their row i0 + g for buffer g). */
static void order_group(int ng, Py_ssize_t i0, Py_ssize_t k, int32_t *cd, int64_t *ci, Py_ssize_t *count,
                        int32_t *tau, int32_t *dist, int64_t *rows) {
    for (int g = 0; g < ng; g++) {
        int32_t *gd = cd + g * CAP;
        int64_t *gi = ci + g * CAP;
        const Py_ssize_t n = keep_best(gd, gi, count[g], k, &tau[g]);
        /* order by (distance, row): an insertion sort, stable, of rows already in row order */
        for (Py_ssize_t a = 1; a < n; a++) {
            const int32_t vd = gd[a];
            const int64_t vi = gi[a];
            Py_ssize_t b = a;
            while (b > 0 && gd[b - 1] > vd) {
                gd[b] = gd[b - 1];
                gi[b] = gi[b - 1];
                b--;
            }
            gd[b] = vd;
            gi[b] = vi;
        }
        for (Py_ssize_t a = 0; a < k; a++) {
            dist[(i0 + g) * k + a] = gd[a];
            rows[(i0 + g) * k + a] = gi[a];
        }
    }
}

/* The rows of the base against a group of `ng` queries (up to GROUP): each block of the base is loaded once for the
 * group, so that a base larger than the cache is read from memory once per group, not once per query. Each query
 * keeps its own buffer (`cd`, `ci` + g * CAP), threshold and count. */
#define GROUP 4

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_KERNEL 1

/* Eight Hamming distances at once: the descriptor x (each word broadcast) to rows j..j+7 of the four planes,
 * whose words are b0..b3. */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"), always_inline)) static inline __m512i dist8(
    const __m512i *x, __m512i b0, __m512i b1, __m512i b2, __m512i b3) {
    return _mm512_add_epi64(
        _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(x[0], b0)), _mm512_popcnt_epi64(_mm512_xor_si512(x[1], b1))),
        _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(x[2], b2)), _mm512_popcnt_epi64(_mm512_xor_si512(x[3], b3))));
}

__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static void two_nearest_avx512(
    const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb, int32_t *d1, int32_t *d2, int64_t *i1) {
    const Py_ssize_t full = nb & ~(Py_ssize_t)7;
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    for (Py_ssize_t i = 0; i < nq; i++) {
        const uint64_t *x = q + 4 * i;
        __m512i xs[4];
        for (int w = 0; w < 4; w++) xs[w] = _mm512_set1_epi64((long long)x[w]);
        const __m512i eight = _mm512_set1_epi64(8);
        __m512i m1 = _mm512_set1_epi64(1 << 20), m2 = m1, a1 = _mm512_set1_epi64(-1);
        __m512i idx = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        Py_ssize_t j = 0;
        for (; j < full; j += 8) {
            const __m512i d = dist8(xs, _mm512_loadu_si512(p0 + j), _mm512_loadu_si512(p1 + j),
                                    _mm512_loadu_si512(p2 + j), _mm512_loadu_si512(p3 + j));
            const __mmask8 closer = _mm512_cmplt_epi64_mask(d, m1);  /* strictly: a lane keeps its first nearest */
            m2 = _mm512_min_epi64(m2, _mm512_max_epi64(d, m1));
            m1 = _mm512_min_epi64(m1, d);
            a1 = _mm512_mask_mov_epi64(a1, closer, idx);
            idx = _mm512_add_epi64(idx, eight);
        }
        int64_t lane1[8], lane2[8], lanei[8];
        _mm512_storeu_si512(lane1, m1);
        _mm512_storeu_si512(lane2, m2);
        _mm512_storeu_si512(lanei, a1);
        merge_lanes(lane1, lane2, lanei, x, planes, nb, j, d1 + i, d2 + i, i1 + i);
    }
}

/* The rows of the base closer than `first` to each of a group of `ng` queries (up to GROUP), appended in row order to
 * each query's buffer (`cd`, `ci` + g * stride); once a buffer holds more than `trigger` rows it is cut back to its k
 * best (keep_best), and from then on a row must beat the k-th (k_nearest; a range search never cuts back). */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"), always_inline)) static inline void scan_group(
    const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb, Py_ssize_t k, int32_t *cd, int64_t *ci,
    Py_ssize_t stride, int32_t first, Py_ssize_t trigger, Py_ssize_t *count, int32_t *tau, int *tight) {
    const Py_ssize_t full = nb & ~(Py_ssize_t)7;
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    __m512i x[GROUP][4], limit[GROUP];
    for (int g = 0; g < ng; g++) {
        for (int w = 0; w < 4; w++) x[g][w] = _mm512_set1_epi64((long long)q[4 * g + w]);
        limit[g] = _mm512_set1_epi64(first);  /* a row is kept while closer than the k-th best so far: all at first */
        count[g] = 0;
        tau[g] = first;
        tight[g] = 0;  /* once cut back to k rows, a later row must be strictly closer (it comes after them) */
    }
    const __m512i eight = _mm512_set1_epi64(8);
    __m512i idx = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (Py_ssize_t j = 0; j < full; j += 8) {
        const __m512i b0 = _mm512_loadu_si512(p0 + j), b1 = _mm512_loadu_si512(p1 + j);
        const __m512i b2 = _mm512_loadu_si512(p2 + j), b3 = _mm512_loadu_si512(p3 + j);
        for (int g = 0; g < ng; g++) {
            const __m512i d = dist8(x[g], b0, b1, b2, b3);
            const __mmask8 keep = _mm512_cmplt_epi64_mask(d, limit[g]);
            if (keep) {  /* appended in row order: eight slots written, the kept ones first */
                int32_t *gd = cd + g * stride;
                int64_t *gi = ci + g * stride;
                _mm256_storeu_si256((__m256i *)(gd + count[g]),
                                    _mm512_cvtepi64_epi32(_mm512_maskz_compress_epi64(keep, d)));
                _mm512_mask_compressstoreu_epi64(gi + count[g], keep, idx);
                count[g] += __builtin_popcount(keep);
                if (count[g] > trigger) {  /* cut back to the k best: from then on a row must beat the k-th */
                    count[g] = keep_best(gd, gi, count[g], k, &tau[g]);
                    tight[g] = 1;
                    limit[g] = _mm512_set1_epi64(tau[g]);
                }
            }
        }
        idx = _mm512_add_epi64(idx, eight);
    }
    for (int g = 0; g < ng; g++) {
        const uint64_t *xg = q + 4 * g;
        int32_t *gd = cd + g * stride;
        int64_t *gi = ci + g * stride;
        for (Py_ssize_t j = full; j < nb; j++) {  /* the last nb % 8 */
            const int32_t d = (int32_t)dist4(xg, p0[j], p1[j], p2[j], p3[j]);
            if (tight[g] ? d < tau[g] : d < first) {
                gd[count[g]] = d;
                gi[count[g]] = j;
                count[g]++;
            }
        }
    }
}

/* A group's scan (scan_group's arguments) on one kernel: k_nearest_scan runs k_nearest on either. */
typedef void (*scan_fn)(const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb, Py_ssize_t k, int32_t *cd,
                        int64_t *ci, Py_ssize_t stride, int32_t first, Py_ssize_t trigger, Py_ssize_t *count,
                        int32_t *tau, int *tight);

__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static void scan_avx512(
    const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb, Py_ssize_t k, int32_t *cd, int64_t *ci,
    Py_ssize_t stride, int32_t first, Py_ssize_t trigger, Py_ssize_t *count, int32_t *tau, int *tight) {
    if (ng == GROUP) {  /* a full group: its loops unrolled */
        scan_group(q, GROUP, planes, nb, k, cd, ci, stride, first, trigger, count, tau, tight);
    } else {
        scan_group(q, ng, planes, nb, k, cd, ci, stride, first, trigger, count, tau, tight);
    }
}

/* AVX2, which has no 64-bit popcount: each plane's XOR with the query counted byte by byte from a table of the
 * sixteen nibbles' popcounts (PSHUFB), the four planes' byte counts added (at most 32 a byte), then summed per
 * 64-bit lane (PSADBW): the distances of four rows in one register. */
#define AVX2_TARGET __attribute__((target("avx2,popcnt")))

AVX2_TARGET __attribute__((always_inline)) static inline __m256i nibble_counts(__m256i v) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1,
                                           2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, low)),
                           _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

/* The distances of the descriptor x (each word broadcast) to rows j..j+3 of the four planes, in 64-bit lanes. */
AVX2_TARGET __attribute__((always_inline)) static inline __m256i dist4x(const __m256i *x, const uint64_t *p0,
                                                                         const uint64_t *p1, const uint64_t *p2,
                                                                         const uint64_t *p3, Py_ssize_t j) {
    __m256i c = nibble_counts(_mm256_xor_si256(x[0], _mm256_loadu_si256((const __m256i *)(p0 + j))));
    c = _mm256_add_epi8(c, nibble_counts(_mm256_xor_si256(x[1], _mm256_loadu_si256((const __m256i *)(p1 + j)))));
    c = _mm256_add_epi8(c, nibble_counts(_mm256_xor_si256(x[2], _mm256_loadu_si256((const __m256i *)(p2 + j)))));
    c = _mm256_add_epi8(c, nibble_counts(_mm256_xor_si256(x[3], _mm256_loadu_si256((const __m256i *)(p3 + j)))));
    return _mm256_sad_epu8(c, _mm256_setzero_si256());
}

/* two_nearest_avx512's lanes with AVX2: eight rows an iteration, their distances packed in 32-bit lanes (rows
 * j, j+4, j+1, j+5, ...: each lane still sees its rows in order), the lanes' two smallest merged at the end. Rows are
 * counted in 32-bit lanes: a base of 2^31 rows or more goes to the scalar kernel (never the case: a frame's or an
 * asset's descriptors). */
AVX2_TARGET static void two_nearest_avx2(const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb,
                                         int32_t *d1, int32_t *d2, int64_t *i1) {
    const Py_ssize_t full = nb & ~(Py_ssize_t)7;
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    for (Py_ssize_t i = 0; i < nq; i++) {
        const uint64_t *x = q + 4 * i;
        __m256i xs[4];
        for (int w = 0; w < 4; w++) xs[w] = _mm256_set1_epi64x((long long)x[w]);
        const __m256i eight = _mm256_set1_epi32(8);
        __m256i m1 = _mm256_set1_epi32(1 << 20), m2 = m1, a1 = _mm256_set1_epi32(-1);
        __m256i idx = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        Py_ssize_t j = 0;
        for (; j < full; j += 8) {
            const __m256i d = _mm256_or_si256(dist4x(xs, p0, p1, p2, p3, j),
                                              _mm256_slli_epi64(dist4x(xs, p0, p1, p2, p3, j + 4), 32));
            const __m256i closer = _mm256_cmpgt_epi32(m1, d);  /* strictly: a lane keeps its first nearest */
            m2 = _mm256_min_epi32(m2, _mm256_max_epi32(d, m1));
            m1 = _mm256_min_epi32(m1, d);
            a1 = _mm256_blendv_epi8(a1, idx, closer);
            idx = _mm256_add_epi32(idx, eight);
        }
        int32_t narrow[3][8];
        _mm256_storeu_si256((__m256i *)narrow[0], m1);
        _mm256_storeu_si256((__m256i *)narrow[1], m2);
        _mm256_storeu_si256((__m256i *)narrow[2], a1);
        int64_t lane1[8], lane2[8], lanei[8];
        for (int l = 0; l < 8; l++) {
            lane1[l] = narrow[0][l];
            lane2[l] = narrow[1][l];
            lanei[l] = narrow[2][l];
        }
        merge_lanes(lane1, lane2, lanei, x, planes, nb, j, d1 + i, d2 + i, i1 + i);
    }
}

/* scan_group with AVX2: four rows a step, those closer than the limit appended in row order from a lane mask. */
AVX2_TARGET __attribute__((always_inline)) static inline void scan_group_avx2(
    const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb, Py_ssize_t k, int32_t *cd, int64_t *ci,
    Py_ssize_t stride, int32_t first, Py_ssize_t trigger, Py_ssize_t *count, int32_t *tau, int *tight) {
    const Py_ssize_t full = nb & ~(Py_ssize_t)3;
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    __m256i x[GROUP][4], limit[GROUP];
    for (int g = 0; g < ng; g++) {
        for (int w = 0; w < 4; w++) x[g][w] = _mm256_set1_epi64x((long long)q[4 * g + w]);
        limit[g] = _mm256_set1_epi64x(first);
        count[g] = 0;
        tau[g] = first;
        tight[g] = 0;
    }
    for (Py_ssize_t j = 0; j < full; j += 4) {
        for (int g = 0; g < ng; g++) {
            const __m256i d = dist4x(x[g], p0, p1, p2, p3, j);
            int keep = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(limit[g], d)));
            if (keep) {
                int64_t lanes[4];
                _mm256_storeu_si256((__m256i *)lanes, d);
                int32_t *gd = cd + g * stride;
                int64_t *gi = ci + g * stride;
                for (; keep; keep &= keep - 1) {  /* the kept lanes, lowest row first */
                    const int l = __builtin_ctz((unsigned)keep);
                    gd[count[g]] = (int32_t)lanes[l];
                    gi[count[g]] = j + l;
                    count[g]++;
                }
                if (count[g] > trigger) {  /* cut back to the k best: from then on a row must beat the k-th */
                    count[g] = keep_best(gd, gi, count[g], k, &tau[g]);
                    tight[g] = 1;
                    limit[g] = _mm256_set1_epi64x(tau[g]);
                }
            }
        }
    }
    for (int g = 0; g < ng; g++) {
        const uint64_t *xg = q + 4 * g;
        int32_t *gd = cd + g * stride;
        int64_t *gi = ci + g * stride;
        for (Py_ssize_t j = full; j < nb; j++) {  /* the last nb % 4 */
            const int32_t d = (int32_t)dist4(xg, p0[j], p1[j], p2[j], p3[j]);
            if (tight[g] ? d < tau[g] : d < first) {
                gd[count[g]] = d;
                gi[count[g]] = j;
                count[g]++;
            }
        }
    }
}

AVX2_TARGET static void scan_avx2(const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb, Py_ssize_t k,
                                  int32_t *cd, int64_t *ci, Py_ssize_t stride, int32_t first, Py_ssize_t trigger,
                                  Py_ssize_t *count, int32_t *tau, int *tight) {
    if (ng == GROUP) {
        scan_group_avx2(q, GROUP, planes, nb, k, cd, ci, stride, first, trigger, count, tau, tight);
    } else {
        scan_group_avx2(q, ng, planes, nb, k, cd, ci, stride, first, trigger, count, tau, tight);
    }
}

static void k_nearest_scan(scan_fn scan, const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb,
                           Py_ssize_t k, int32_t *dist, int64_t *rows, int32_t *cd, int64_t *ci) {
    Py_ssize_t count[GROUP];
    int32_t tau[GROUP];
    int tight[GROUP];
    /* a buffer is cut back once it holds this many: soon at first (the k-th best of a few dozen rows already turns
       most rows away), never past its end (eight slots are written at a time) */
    const Py_ssize_t trigger = 4 * k + 64 < CAP - 16 ? 4 * k + 64 : CAP - 16;
    for (Py_ssize_t i0 = 0; i0 < nq; i0 += GROUP) {
        const int ng = nq - i0 < GROUP ? (int)(nq - i0) : GROUP;
        scan(q + 4 * i0, ng, planes, nb, k, cd, ci, CAP, 257, trigger, count, tau, tight);
        order_group(ng, i0, k, cd, ci, count, tau, dist, rows);
    }
}


/* Every row of the base within r of each query, four queries a pass over the base (as k_nearest: a base larger than
 * the cache is read once a group of queries): each query's matching rows go to its own buffer (`gi`, `gd` +
 * g * (nb + 8): room for every row and the eight slots a compressed store writes), then out in (query, row) order
 * while they fit in `capacity`; returns how many there are (the caller makes room for them all and asks again when
 * there were more). */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static Py_ssize_t within_avx512(
    const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb, int64_t r, int64_t *out_q,
    int64_t *out_i, int32_t *out_d, Py_ssize_t capacity, int64_t *gi, int32_t *gd) {
    Py_ssize_t count[GROUP], n = 0;
    int32_t tau[GROUP];
    int tight[GROUP];
    for (Py_ssize_t i0 = 0; i0 < nq; i0 += GROUP) {
        const int ng = nq - i0 < GROUP ? (int)(nq - i0) : GROUP;
        /* buffers with room for every row: never cut back */
        scan_avx512(q + 4 * i0, ng, planes, nb, 0, gd, gi, nb + 8, (int32_t)r + 1, PY_SSIZE_T_MAX, count, tau, tight);
        for (int g = 0; g < ng; g++) {
            for (Py_ssize_t a = 0; a < count[g]; a++, n++) {
                if (n < capacity) {
                    out_q[n] = i0 + g;
                    out_i[n] = gi[g * (nb + 8) + a];
                    out_d[n] = gd[g * (nb + 8) + a];
                }
            }
        }
    }
    return n;
}


static void detect_cpu(void) {
    __builtin_cpu_init();
    portable_ok = __builtin_cpu_supports("popcnt");
    avx2_ok = portable_ok && __builtin_cpu_supports("avx2");
    avx512_ok = portable_ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
    /* Zen 1 splits 256-bit operations in two: there the nibble table is slower than POPCNT (see the top) */
    const int split_avx = __builtin_cpu_is("znver1");
    kernel = avx512_ok ? KERNEL_AVX512 : avx2_ok && !split_avx ? KERNEL_AVX2 : KERNEL_POPCNT;
}
#define POPCNT_TARGET __attribute__((target("popcnt")))
#else
#define HAVE_KERNEL 0
static void detect_cpu(void) { portable_ok = 1; }
#define POPCNT_TARGET
#endif


/* The same searches one distance at a time, with the scalar POPCNT: for CPUs without AVX-512 VPOPCNTDQ. */

POPCNT_TARGET static void two_nearest_popcnt(const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb,
                                             int32_t *d1, int32_t *d2, int64_t *i1) {
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    for (Py_ssize_t i = 0; i < nq; i++) {
        const uint64_t *x = q + 4 * i;
        int64_t b1 = 1 << 20, b2 = 1 << 20, bi = -1;
        two_nearest_rows(x, p0, p1, p2, p3, 0, nb, &b1, &b2, &bi);
        d1[i] = (int32_t)b1;
        d2[i] = (int32_t)b2;
        i1[i] = bi;
    }
}

/* scan_group's work one row at a time: a row is kept while closer than its query's k-th best so far. */
POPCNT_TARGET static void scan_group_popcnt(const uint64_t *q, int ng, const uint64_t *planes, Py_ssize_t nb,
                                            Py_ssize_t k, int32_t *cd, int64_t *ci, Py_ssize_t *count, int32_t *tau) {
    const uint64_t *p0 = planes, *p1 = planes + nb, *p2 = planes + 2 * nb, *p3 = planes + 3 * nb;
    const Py_ssize_t trigger = 4 * k + 64 < CAP - 16 ? 4 * k + 64 : CAP - 16;
    int32_t limit[GROUP];
    for (int g = 0; g < ng; g++) {
        limit[g] = 257;
        count[g] = 0;
        tau[g] = 257;
    }
    for (Py_ssize_t j = 0; j < nb; j++) {
        const uint64_t b0 = p0[j], b1 = p1[j], b2 = p2[j], b3 = p3[j];
        for (int g = 0; g < ng; g++) {
            const int32_t d = (int32_t)dist4(q + 4 * g, b0, b1, b2, b3);
            if (d < limit[g]) {  /* appended in row order */
                cd[g * CAP + count[g]] = d;
                ci[g * CAP + count[g]] = j;
                if (++count[g] > trigger) {  /* cut back to the k best: from then on a row must beat the k-th */
                    count[g] = keep_best(cd + g * CAP, ci + g * CAP, count[g], k, &tau[g]);
                    limit[g] = tau[g];
                }
            }
        }
    }
}

POPCNT_TARGET static void k_nearest_popcnt(const uint64_t *q, Py_ssize_t nq, const uint64_t *planes, Py_ssize_t nb,
                                           Py_ssize_t k, int32_t *dist, int64_t *rows, int32_t *cd, int64_t *ci) {
    Py_ssize_t count[GROUP];
    int32_t tau[GROUP];
    for (Py_ssize_t i0 = 0; i0 < nq; i0 += GROUP) {
        const int ng = nq - i0 < GROUP ? (int)(nq - i0) : GROUP;
        scan_group_popcnt(q + 4 * i0, ng, planes, nb, k, cd, ci, count, tau);
        order_group(ng, i0, k, cd, ci, count, tau, dist, rows);
    }
}


/* A multi-index hash search's verification: for each range m of postings (lo[m], size[m]) probed for query row[m],
 * every posted row's distance to the query; those within r are written out (query row, row id, distance). Reads
 * only the rows probed (a memory-mapped table is paged in where it is touched). Returns the count, or -1 when an
 * id or a range lies outside the arrays (a damaged index). */
/* How far ahead a loop over randomly placed memory asks for what it will read (__builtin_prefetch): a read's latency
 * from memory is that of hundreds of instructions. */
#define PREFETCH_FAR 16
#define PREFETCH_NEAR 8
/* Keys of a bucket up to which a probe counts the keys below and equal to it rather than searching (a bucket holds
 * ~16 on average: a binary search's branches there went the wrong way half the time) */
#define BUCKET_SCAN 64

/* The row id at place p of a multi-index's postings (int64 when wide, else uint32). */
static inline int64_t posting(const void *postings, int wide, int64_t p) {
    return wide ? ((const int64_t *)postings)[p] : (int64_t)((const uint32_t *)postings)[p];
}

POPCNT_TARGET static Py_ssize_t verify_ranges_popcnt(
    const uint64_t *codes, Py_ssize_t ncodes, const void *postings, int wide, Py_ssize_t npostings,
    const int64_t *lo, const int64_t *size, const int64_t *row, Py_ssize_t nranges, const uint64_t *queries,
    Py_ssize_t nq, int64_t r, int64_t *out_q, int64_t *out_i, int32_t *out_d, Py_ssize_t capacity) {
    Py_ssize_t n = 0;
    for (Py_ssize_t m = 0; m < nranges; m++) {
        /* the postings of the range PREFETCH_FAR ahead and the codes of the one PREFETCH_NEAR ahead asked for now
         * (both read at random places of arrays in memory; only what lies inside them) */
        if (m + PREFETCH_FAR < nranges) {
            const int64_t f = lo[m + PREFETCH_FAR];
            if (f >= 0 && f < npostings)
                __builtin_prefetch(wide ? (const void *)((const int64_t *)postings + f)
                                        : (const void *)((const uint32_t *)postings + f));
        }
        if (m + PREFETCH_NEAR < nranges) {
            const int64_t f = lo[m + PREFETCH_NEAR], g = f + size[m + PREFETCH_NEAR];
            for (int64_t p = f; p >= 0 && p < g && p < npostings && p < f + 4; p++) {
                const int64_t id = posting(postings, wide, p);
                if (id >= 0 && id < ncodes) __builtin_prefetch(codes + 4 * id);
            }
        }
        const int64_t q = row[m], a = lo[m], b = lo[m] + size[m];
        if (q < 0 || q >= nq || a < 0 || size[m] < 0 || b > npostings || n + size[m] > capacity) return -1;
        const uint64_t *x = queries + 4 * q;
        for (int64_t p = a; p < b; p++) {
            const int64_t id = posting(postings, wide, p);
            if (id < 0 || id >= ncodes) return -1;
            const uint64_t *y = codes + 4 * id;
            const int64_t d = dist4(x, y[0], y[1], y[2], y[3]);
            if (d <= r) {
                out_q[n] = q;
                out_i[n] = id;
                out_d[n] = (int32_t)d;
                n++;
            }
        }
    }
    return n;
}


/* A multi-index's keys are 1, 2 or 4 bytes (a chunk's values, or in a bucketed chunk only their bits under the
 * bucket's: `mask`); the searches below are made for each width by KEY_SEARCHES. */
#define KEY_SEARCHES(T, W)                                                                                           \
/* The keys equal to v, [*lo, *lo + *size), the first key >= v searched for in [low, high) of the sorted keys (the   \
 * caller knows it lies there); returns *lo. */                                                                      \
static inline Py_ssize_t equal_range_##W(const T *keys, Py_ssize_t n, T v, Py_ssize_t low, Py_ssize_t high,           \
                                         int64_t *lo, int64_t *size) {                                               \
    while (low < high) {                                                                                             \
        const Py_ssize_t mid = low + (high - low) / 2;                                                               \
        if (keys[mid] < v)                                                                                           \
            low = mid + 1;                                                                                           \
        else                                                                                                         \
            high = mid;                                                                                              \
    }                                                                                                                \
    Py_ssize_t end = low;                                                                                            \
    while (end < n && keys[end] == v) end++;                                                                         \
    *lo = low;                                                                                                       \
    *size = end - low;                                                                                               \
    return low;                                                                                                      \
}                                                                                                                    \
                                                                                                                     \
/* A multi-index hash search's probes: for each probed chunk value (sorted ascending), the range [lo, lo + size) of  \
 * the chunk's sorted keys equal to it (size 0 where none is; a probe above the keys' width finds none). Each search \
 * gallops forward from where the last one ended (the probes are sorted), so a chunk's keys are read mostly in      \
 * order. */                                                                                                         \
static void probe_ranges_sorted_##W(const T *keys, Py_ssize_t n, const uint32_t *probes, Py_ssize_t m, int64_t *lo,  \
                                    int64_t *size) {                                                                 \
    Py_ssize_t at = 0; /* the first key >= the previous probe */                                                     \
    for (Py_ssize_t i = 0; i < m; i++) {                                                                             \
        if (probes[i] > (uint32_t)(T)~(T)0) { /* wider than a key: past every one */                                 \
            lo[i] = n;                                                                                               \
            size[i] = 0;                                                                                             \
            at = n;                                                                                                  \
            continue;                                                                                                \
        }                                                                                                            \
        const T v = (T)probes[i];                                                                                    \
        /* gallop: the first key >= v lies in [at, at + step] once keys[at + step - 1] >= v */                       \
        Py_ssize_t low = at, step = 1;                                                                               \
        while (low + step <= n && keys[low + step - 1] < v) {                                                        \
            low += step;                                                                                             \
            step <<= 1;                                                                                              \
        }                                                                                                            \
        const Py_ssize_t high = low + step < n ? low + step : n; /* keys[low - 1] < v (or low == at) */              \
        at = equal_range_##W(keys, n, v, low, high, &lo[i], &size[i]);                                               \
    }                                                                                                                \
}                                                                                                                    \
                                                                                                                     \
/* probe_ranges_sorted's answer through a table of where each bucket of keys begins (`starts[b]`: the first key     \
 * whose value shifted right by `shift` is b or more; `nstarts` of them, the last the keys' count), the keys holding \
 * the bits of each value under `mask` (all of it, or those under its bucket's): a probe's range is searched for     \
 * among its bucket's keys alone, a few cache lines, where a search over all the keys of a chunk of millions reads a \
 * dozen lines of memory. Only the probes that find keys are written (at: the probe, lo, size), in the probes'      \
 * order; returns their count, or -1 when a probe's bucket or a start lies outside the arrays. */                     \
static Py_ssize_t probe_ranges_buckets_##W(const T *keys, Py_ssize_t n, const uint32_t *starts, Py_ssize_t nstarts,  \
                                           int shift, uint32_t mask, const uint32_t *probes, Py_ssize_t m,           \
                                           int64_t *at, int64_t *lo, int64_t *size) {                                \
    Py_ssize_t hits = 0;                                                                                             \
    for (Py_ssize_t i = 0; i < m; i++) {                                                                             \
        /* the probes are in no order and the keys lie in memory, not cache (a few MB a chunk at 10 hours of        \
         * reference): the bucket starts of the probe PREFETCH_FAR ahead and the first keys of the one PREFETCH_NEAR \
         * ahead are asked for now, so that the reads of many probes overlap instead of each waiting on its own */    \
        if (i + PREFETCH_FAR < m) {                                                                                  \
            const Py_ssize_t far = (Py_ssize_t)(probes[i + PREFETCH_FAR] >> shift);                                  \
            if (far + 1 < nstarts) __builtin_prefetch(starts + far);                                                 \
        }                                                                                                            \
        if (i + PREFETCH_NEAR < m) {                                                                                 \
            const Py_ssize_t near = (Py_ssize_t)(probes[i + PREFETCH_NEAR] >> shift);                                \
            if (near + 1 < nstarts && starts[near] < n) __builtin_prefetch(keys + starts[near]);                     \
        }                                                                                                            \
        const Py_ssize_t b = (Py_ssize_t)(probes[i] >> shift);                                                       \
        if (b + 1 >= nstarts) return -1;                                                                             \
        const Py_ssize_t low = starts[b], high = starts[b + 1];                                                      \
        if (low > high || high > n) return -1;                                                                       \
        const T v = (T)(probes[i] & mask);                                                                           \
        if (high - low <= BUCKET_SCAN) { /* a bucket of a few keys: counted, no branch to mispredict */              \
            Py_ssize_t below = 0, equal = 0;                                                                         \
            for (Py_ssize_t k = low; k < high; k++) {                                                                \
                below += keys[k] < v;                                                                                \
                equal += keys[k] == v;                                                                               \
            }                                                                                                        \
            lo[hits] = low + below;                                                                                  \
            size[hits] = equal;                                                                                      \
        } else {                                                                                                     \
            equal_range_##W(keys, high, v, low, high, &lo[hits], &size[hits]);                                       \
        }                                                                                                            \
        at[hits] = i;                                                                                                \
        hits += size[hits] > 0; /* only the probes that find keys are kept (most find none) */                       \
    }                                                                                                                \
    return hits;                                                                                                     \
}

KEY_SEARCHES(uint8_t, 8)
KEY_SEARCHES(uint16_t, 16)
KEY_SEARCHES(uint32_t, 32)

static PyObject *supported(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(portable_ok);
}

static PyObject *portable(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(portable_ok);
}

/* Whether the CPU has what a function needs (`ok`); a RuntimeError set when it has not. */
static int require(int ok, const char *what) {
    if (!ok) PyErr_Format(PyExc_RuntimeError, "this CPU has no %s", what);
    return ok;
}

static PyObject *none(void) {
    Py_INCREF(Py_None);
    return Py_None;
}

static PyObject *isa(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyUnicode_FromString(!portable_ok                ? ""
                                : kernel == KERNEL_AVX512 ? "avx512"
                                : kernel == KERNEL_AVX2   ? "avx2"
                                                          : "popcnt");
}

static PyObject *use_isa(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    if (strcmp(name, "avx512") == 0) {
        if (!require(avx512_ok, "AVX-512 VPOPCNTDQ")) return NULL;
        kernel = KERNEL_AVX512;
    } else if (strcmp(name, "avx2") == 0) {
        if (!require(avx2_ok, "AVX2")) return NULL;
        kernel = KERNEL_AVX2;
    } else if (strcmp(name, "popcnt") == 0) {
        if (!require(portable_ok, "POPCNT")) return NULL;
        kernel = KERNEL_POPCNT;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown kernel %s (avx512, avx2, popcnt)", name);
        return NULL;
    }
    return none();
}

static PyObject *two_nearest(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[5];  /* queries, planes, d1, d2, i1 */
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*", &b[0], &b[1], &b[2], &b[3], &b[4])) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t nq = b[0].len / 32, nb = b[1].len / 32;
    if (b[0].len % 32 || b[1].len % 32) {
        PyErr_SetString(PyExc_ValueError, "descriptors must be 32 bytes each");
    } else if (b[2].len != nq * 4 || b[3].len != nq * 4 || b[4].len != nq * 8) {
        PyErr_SetString(PyExc_ValueError, "outputs must hold one int32, int32, int64 per query");
    } else if (nb < 2) {
        PyErr_SetString(PyExc_ValueError, "at least two base descriptors are needed");
    } else if (require(portable_ok, "POPCNT")) {
        const uint64_t *q = (const uint64_t *)b[0].buf, *planes = (const uint64_t *)b[1].buf;
        int32_t *d1 = (int32_t *)b[2].buf, *d2 = (int32_t *)b[3].buf;
        int64_t *i1 = (int64_t *)b[4].buf;
        Py_BEGIN_ALLOW_THREADS
#if HAVE_KERNEL
        if (kernel == KERNEL_AVX512)
            two_nearest_avx512(q, nq, planes, nb, d1, d2, i1);
        else if (kernel == KERNEL_AVX2 && nb <= INT32_MAX)
            two_nearest_avx2(q, nq, planes, nb, d1, d2, i1);
        else
#endif
            two_nearest_popcnt(q, nq, planes, nb, d1, d2, i1);
        Py_END_ALLOW_THREADS
        result = none();
    }
    release(b, 5);
    return result;
}


static PyObject *k_nearest(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[4];  /* queries, planes, dist, rows */
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "y*y*nw*w*", &b[0], &b[1], &k, &b[2], &b[3])) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t nq = b[0].len / 32, nb = b[1].len / 32;
    if (b[0].len % 32 || b[1].len % 32) {
        PyErr_SetString(PyExc_ValueError, "descriptors must be 32 bytes each");
    } else if (k < 1 || k > KMAX || k > nb) {
        PyErr_Format(PyExc_ValueError, "k must be in [1, %d] and at most the base's %zd rows", KMAX, nb);
    } else if (b[2].len != nq * k * 4 || b[3].len != nq * k * 8) {
        PyErr_SetString(PyExc_ValueError, "outputs must hold k int32 and k int64 per query");
    } else if (require(portable_ok, "POPCNT")) {
        int32_t *cd = PyMem_RawMalloc(GROUP * CAP * sizeof(int32_t));
        int64_t *ci = PyMem_RawMalloc(GROUP * CAP * sizeof(int64_t));
        if (cd == NULL || ci == NULL) {
            PyErr_NoMemory();
        } else {
            const uint64_t *q = (const uint64_t *)b[0].buf, *planes = (const uint64_t *)b[1].buf;
            int32_t *dist = (int32_t *)b[2].buf;
            int64_t *rows = (int64_t *)b[3].buf;
            Py_BEGIN_ALLOW_THREADS
#if HAVE_KERNEL
            if (kernel != KERNEL_POPCNT)
                k_nearest_scan(kernel == KERNEL_AVX512 ? scan_avx512 : scan_avx2, q, nq, planes, nb, k, dist, rows, cd,
                               ci);
            else
#endif
                k_nearest_popcnt(q, nq, planes, nb, k, dist, rows, cd, ci);
            Py_END_ALLOW_THREADS
            result = none();
        }
        PyMem_RawFree(cd);
        PyMem_RawFree(ci);
    }
    release(b, 4);
    return result;
}


static PyObject *within(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[5];  /* queries, planes, out_q, out_i, out_d */
    long long r;
    if (!PyArg_ParseTuple(args, "y*y*Lw*w*w*", &b[0], &b[1], &r, &b[2], &b[3], &b[4])) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t nq = b[0].len / 32, nb = b[1].len / 32, capacity = b[2].len / 8;
    if (b[0].len % 32 || b[1].len % 32) {
        PyErr_SetString(PyExc_ValueError, "descriptors must be 32 bytes each");
    } else if (b[3].len != b[2].len || b[4].len * 2 != b[2].len) {
        PyErr_SetString(PyExc_ValueError, "outputs must be of matching lengths (int64, int64, int32)");
    } else if (r < 0 || r > 256) {
        PyErr_SetString(PyExc_ValueError, "the radius must be in [0, 256]");
    } else if (require(kernel == KERNEL_AVX512, "AVX-512 VPOPCNTDQ")) {  /* elsewhere FAISS's flat search is as fast */
#if HAVE_KERNEL
        const uint64_t *q = (const uint64_t *)b[0].buf, *planes = (const uint64_t *)b[1].buf;
        int64_t *gi = PyMem_RawMalloc(GROUP * (nb + 8) * sizeof(int64_t));
        int32_t *gd = PyMem_RawMalloc(GROUP * (nb + 8) * sizeof(int32_t));
        if (gi == NULL || gd == NULL) {
            PyErr_NoMemory();
        } else {
            Py_ssize_t n;
            Py_BEGIN_ALLOW_THREADS
            n = within_avx512(q, nq, planes, nb, r, (int64_t *)b[2].buf, (int64_t *)b[3].buf, (int32_t *)b[4].buf,
                              capacity, gi, gd);
            Py_END_ALLOW_THREADS
            result = PyLong_FromSsize_t(n);
        }
        PyMem_RawFree(gi);
        PyMem_RawFree(gd);
#endif
    }
    release(b, 5);
    return result;
}


static PyObject *verify_ranges(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[9];  /* codes, postings, lo, size, row, queries, out_q, out_i, out_d */
    int wide;
    long long r;
    if (!PyArg_ParseTuple(args, "y*y*py*y*y*y*Lw*w*w*", &b[0], &b[1], &wide, &b[2], &b[3], &b[4], &b[5], &r, &b[6],
                          &b[7], &b[8]))
        return NULL;
    PyObject *result = NULL;
    const Py_buffer *codes = &b[0], *postings = &b[1], *lo = &b[2], *queries = &b[5];
    const Py_ssize_t nranges = lo->len / 8, capacity = b[6].len / 8;
    if (codes->len % 32 || queries->len % 32 || lo->len % 8 || postings->len % (wide ? 8 : 4)) {
        PyErr_SetString(PyExc_ValueError, "codes and queries must be 32 bytes a row, ranges 64-bit");
    } else if (b[3].len != lo->len || b[4].len != lo->len || b[7].len != b[6].len || b[8].len * 2 != b[6].len) {
        PyErr_SetString(PyExc_ValueError, "ranges and outputs must be of matching lengths");
    } else if (require(portable_ok, "POPCNT")) {
        Py_ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = verify_ranges_popcnt((const uint64_t *)codes->buf, codes->len / 32, postings->buf, wide,
                                 postings->len / (wide ? 8 : 4), (const int64_t *)lo->buf, (const int64_t *)b[3].buf,
                                 (const int64_t *)b[4].buf, nranges, (const uint64_t *)queries->buf, queries->len / 32,
                                 r, (int64_t *)b[6].buf, (int64_t *)b[7].buf, (int32_t *)b[8].buf, capacity);
        Py_END_ALLOW_THREADS
        if (n < 0)
            PyErr_SetString(PyExc_ValueError, "a posting or a range lies outside the index's arrays");
        else
            result = PyLong_FromSsize_t(n);
    }
    release(b, 9);
    return result;
}


static PyObject *probe_ranges(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[4];  /* keys, probes, lo, size */
    int width;
    if (!PyArg_ParseTuple(args, "y*iy*w*w*", &b[0], &width, &b[1], &b[2], &b[3])) return NULL;
    PyObject *result = NULL;
    const Py_ssize_t m = b[1].len / 4, n = width > 0 ? b[0].len / width : 0;
    const uint32_t *p = (const uint32_t *)b[1].buf;
    int sorted = 1;
    for (Py_ssize_t i = 1; i < m && sorted; i++) sorted = p[i - 1] <= p[i];
    if ((width != 1 && width != 2 && width != 4) || b[0].len % width || b[1].len % 4 || b[2].len != m * 8 ||
        b[3].len != m * 8) {
        PyErr_SetString(PyExc_ValueError, "keys must be of 1, 2 or 4 bytes, probes uint32, lo and size one int64 "
                                          "per probe");
    } else if (!sorted) {
        PyErr_SetString(PyExc_ValueError, "probes must be sorted");
    } else {
        int64_t *lo = (int64_t *)b[2].buf, *size = (int64_t *)b[3].buf;
        Py_BEGIN_ALLOW_THREADS
        if (width == 1)
            probe_ranges_sorted_8((const uint8_t *)b[0].buf, n, p, m, lo, size);
        else if (width == 2)
            probe_ranges_sorted_16((const uint16_t *)b[0].buf, n, p, m, lo, size);
        else
            probe_ranges_sorted_32((const uint32_t *)b[0].buf, n, p, m, lo, size);
        Py_END_ALLOW_THREADS
        result = none();
    }
    release(b, 4);
    return result;
}

static PyObject *probe_buckets(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[6];  /* keys, starts, probes, at, lo, size */
    int width, shift, low;
    if (!PyArg_ParseTuple(args, "y*iy*ipy*w*w*w*", &b[0], &width, &b[1], &shift, &low, &b[2], &b[3], &b[4], &b[5]))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t m = b[2].len / 4, n = width > 0 ? b[0].len / width : 0;
    if ((width != 1 && width != 2 && width != 4) || b[0].len % width || b[1].len % 4 || b[2].len % 4 ||
        b[3].len != m * 8 || b[4].len != m * 8 || b[5].len != m * 8 || shift < 0 || shift > 31 ||
        (low && shift > 8 * width)) {
        PyErr_SetString(PyExc_ValueError, "keys must be of 1, 2 or 4 bytes (holding the bits under the shift when low), "
                                          "starts and probes uint32, at, lo and size one int64 per probe, the shift "
                                          "in [0, 31]");
    } else {
        const uint32_t mask = low ? (uint32_t)((1ull << shift) - 1) : 0xFFFFFFFFu;
        const uint32_t *starts = (const uint32_t *)b[1].buf, *probes = (const uint32_t *)b[2].buf;
        const Py_ssize_t nstarts = b[1].len / 4;
        int64_t *at = (int64_t *)b[3].buf, *lo = (int64_t *)b[4].buf, *size = (int64_t *)b[5].buf;
        Py_ssize_t hits;
        Py_BEGIN_ALLOW_THREADS
        if (width == 1)
            hits = probe_ranges_buckets_8((const uint8_t *)b[0].buf, n, starts, nstarts, shift, mask, probes, m, at,
                                          lo, size);
        else if (width == 2)
            hits = probe_ranges_buckets_16((const uint16_t *)b[0].buf, n, starts, nstarts, shift, mask, probes, m,
                                           at, lo, size);
        else
            hits = probe_ranges_buckets_32((const uint32_t *)b[0].buf, n, starts, nstarts, shift, mask, probes, m,
                                           at, lo, size);
        Py_END_ALLOW_THREADS
        if (hits < 0)
            PyErr_SetString(PyExc_ValueError, "a probe's bucket or a bucket's start lies outside the arrays");
        else
            result = PyLong_FromSsize_t(hits);
    }
    release(b, 6);
    return result;
}

static PyMethodDef methods[] = {
    {"supported", supported, METH_NOARGS, "Whether this CPU runs two_nearest and k_nearest (POPCNT on x86-64)."},
    {"isa", isa, METH_NOARGS,
     "The kernel two_nearest, k_nearest and within run on: 'avx512', 'avx2', 'popcnt' ('': none runs here)."},
    {"use_isa", use_isa, METH_VARARGS,
     "use_isa(name): run two_nearest, k_nearest and within on 'avx512' (where this CPU has AVX-512 VPOPCNTDQ), "
     "or two_nearest and k_nearest on 'avx2' (where it has AVX2) or 'popcnt'."},
    {"portable", portable, METH_NOARGS, "Whether this CPU runs verify_ranges and probe_ranges (POPCNT on x86-64)."},
    {"two_nearest", two_nearest, METH_VARARGS,
     "two_nearest(queries, planes, d1, d2, i1): for each 32-byte query, its nearest and second-nearest Hamming "
     "distance among the base descriptors (given as four planes of 64-bit words) and the nearest's index."},
    {"k_nearest", k_nearest, METH_VARARGS,
     "k_nearest(queries, planes, k, dist, rows): for each 32-byte query, the k nearest base descriptors (four "
     "planes of 64-bit words) by Hamming distance, ordered by (distance, row): int32 distances, int64 rows."},
    {"within", within, METH_VARARGS,
     "within(queries, planes, r, out_q, out_i, out_d) -> count: every base descriptor (four planes of 64-bit words) "
     "within r of each query, in (query, row) order, written while the outputs hold them (an exact range search; "
     "AVX-512 VPOPCNTDQ only)."},
    {"verify_ranges", verify_ranges, METH_VARARGS,
     "verify_ranges(codes, postings, wide, lo, size, row, queries, r, out_q, out_i, out_d) -> count: the posted rows "
     "of each probed range within r of its query (a multi-index hash search's verification)."},
    {"probe_buckets", probe_buckets, METH_VARARGS,
     "probe_buckets(keys, width, starts, shift, low, probes, at, lo, size) -> count: probe_ranges' answer for the "
     "probes that find keys (the probes in any order; at: which probe) through the table of where each bucket of "
     "keys (value >> shift) begins, the keys' count last; keys of width bytes, holding only the bits under the shift "
     "when low."},
    {"probe_ranges", probe_ranges, METH_VARARGS,
     "probe_ranges(keys, width, probes, lo, size): for each sorted uint32 probe, the range of the sorted keys (of "
     "width bytes) equal to it (lo, size: int64)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "popcount", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_popcount(void) {
    detect_cpu();
    return PyModule_Create(&module);
}

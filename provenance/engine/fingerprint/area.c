/* OpenCV's INTER_AREA shrink of a grey picture, the same numbers, several times faster: the engine's working
 * pictures (a frame's box shrunk to 128 x 128 before its region grids are hashed, provenance.engine.fingerprint.grids).
 *
 * OpenCV shrinks by a non-integer factor with a scalar loop in float32: each source row is summed across into the
 * output columns (every output column the weighted sum of the source pixels its cell covers, in order, each weight
 * the covered share of the pixel over the cell's width), the rows' sums are then summed down the same way, and the
 * result is rounded to the nearest integer (half to even) and saturated to 0..255. Here the same products and sums
 * are made in the same order for each output pixel, eight output columns at once (AVX2's gather of the source
 * pixels), so the rounding of every step, and so every output pixel, is OpenCV's; the weights and which pixels each
 * output sums come from the caller, as OpenCV computes them (grids.py). No multiply-add is fused (that would round
 * once where OpenCV rounds twice): the file is built without contraction and the AVX2 code without FMA.
 *
 * Built as an optional extension (pyproject.toml): where it is not, grids.py calls cv2.resize itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2 1
static int avx2_ok = 0;
#else
#define HAVE_AVX2 0
#endif

/* rows[r][c] = sum over p of row(r)[xi[p][c]] * xw[p][c], in p order: the sums across of ``nr`` source rows of
 * ``src`` (row r at src + r * stride, ``width`` pixels from column ``x0``) into ``ow`` columns. ``tmp``: width
 * floats. */
static void across_scalar(const uint8_t *src, Py_ssize_t stride, Py_ssize_t x0, Py_ssize_t nr, Py_ssize_t width,
                          const int32_t *xi, const float *xw, Py_ssize_t px, Py_ssize_t ow, float *rows, float *tmp) {
    for (Py_ssize_t r = 0; r < nr; r++) {
        const uint8_t *s = src + r * stride + x0;
        float *out = rows + r * ow;
        for (Py_ssize_t x = 0; x < width; x++) tmp[x] = (float)s[x];
        for (Py_ssize_t c = 0; c < ow; c++) out[c] = tmp[xi[c]] * xw[c];
        for (Py_ssize_t p = 1; p < px; p++) {
            const int32_t *i = xi + p * ow;
            const float *w = xw + p * ow;
            for (Py_ssize_t c = 0; c < ow; c++) {
                const float v = tmp[i[c]] * w[c];
                out[c] = out[c] + v;
            }
        }
    }
}

#if HAVE_AVX2
__attribute__((target("avx2"))) static void across_avx2(const uint8_t *src, Py_ssize_t stride, Py_ssize_t x0,
                                                         Py_ssize_t nr, Py_ssize_t width, const int32_t *xi,
                                                         const float *xw, Py_ssize_t px, Py_ssize_t ow, float *rows,
                                                         float *tmp) {
    const Py_ssize_t ow8 = ow - ow % 8;
    for (Py_ssize_t r = 0; r < nr; r++) {
        const uint8_t *s = src + r * stride + x0;
        float *out = rows + r * ow;
        Py_ssize_t x = 0;
        for (; x + 8 <= width; x += 8) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(s + x));
            _mm256_storeu_ps(tmp + x, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
        }
        for (; x < width; x++) tmp[x] = (float)s[x];
        Py_ssize_t c = 0;
        for (; c < ow8; c += 8) {
            __m256 acc = _mm256_mul_ps(_mm256_i32gather_ps(tmp, _mm256_loadu_si256((const __m256i *)(xi + c)), 4),
                                       _mm256_loadu_ps(xw + c));
            for (Py_ssize_t p = 1; p < px; p++) {
                const __m256i i = _mm256_loadu_si256((const __m256i *)(xi + p * ow + c));
                const __m256 v = _mm256_mul_ps(_mm256_i32gather_ps(tmp, i, 4), _mm256_loadu_ps(xw + p * ow + c));
                acc = _mm256_add_ps(acc, v);
            }
            _mm256_storeu_ps(out + c, acc);
        }
        for (; c < ow; c++) {
            float a = tmp[xi[c]] * xw[c];
            for (Py_ssize_t p = 1; p < px; p++) {
                const float v = tmp[xi[p * ow + c]] * xw[p * ow + c];
                a = a + v;
            }
            out[c] = a;
        }
    }
}
#endif

/* out[d][c] = rint(sum over p of rows[yi[p][d]][c] * yw[p][d], in p order), saturated to 0..255, as float32. */
static void down(const float *rows, Py_ssize_t ow, const int32_t *yi, const float *yw, Py_ssize_t py, Py_ssize_t oh,
                 float *out) {
    for (Py_ssize_t d = 0; d < oh; d++) {
        float *o = out + d * ow;
        const float *r0 = rows + (Py_ssize_t)yi[d] * ow;
        const float w0 = yw[d];
        for (Py_ssize_t c = 0; c < ow; c++) o[c] = w0 * r0[c];
        for (Py_ssize_t p = 1; p < py; p++) {
            const float *rp = rows + (Py_ssize_t)yi[p * oh + d] * ow;
            const float wp = yw[p * oh + d];
            for (Py_ssize_t c = 0; c < ow; c++) {
                const float v = wp * rp[c];
                o[c] = o[c] + v;
            }
        }
        for (Py_ssize_t c = 0; c < ow; c++) {
            /* to the nearest integer, half to even (cvRound): adding 1.5 * 2^23 leaves no fraction bits, which
             * the default rounding rounds that way, for 0 <= v < 2^22 (the sums are means of 0..255) */
            const float v = (o[c] + 12582912.0f) - 12582912.0f;
            o[c] = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
        }
    }
}

static void release(Py_buffer *buffers, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&buffers[i]);
}

/* shrink(src, stride, x0, y0, width, height, xi, xw, px, yi, yw, py, out, ow, oh) */
static PyObject *shrink(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[6]; /* src, xi, xw, yi, yw, out */
    Py_ssize_t stride, x0, y0, width, height, px, py, ow, oh;
    if (!PyArg_ParseTuple(args, "y*nnnnny*y*ny*y*nw*nn", &b[0], &stride, &x0, &y0, &width, &height, &b[1], &b[2], &px,
                          &b[3], &b[4], &py, &b[5], &ow, &oh))
        return NULL;
    const int ok = stride > 0 && x0 >= 0 && y0 >= 0 && width > 0 && height > 0 && px > 0 && py > 0 && ow > 0 &&
                   oh > 0 && x0 + width <= stride && (y0 + height - 1) * stride + x0 + width <= b[0].len &&
                   b[1].len == (Py_ssize_t)sizeof(int32_t) * px * ow && b[2].len == (Py_ssize_t)sizeof(float) * px * ow &&
                   b[3].len == (Py_ssize_t)sizeof(int32_t) * py * oh && b[4].len == (Py_ssize_t)sizeof(float) * py * oh &&
                   b[5].len == (Py_ssize_t)sizeof(float) * oh * ow;
    if (!ok) {
        release(b, 6);
        PyErr_SetString(PyExc_ValueError, "shrink: sizes do not agree");
        return NULL;
    }
    const int32_t *xi = (const int32_t *)b[1].buf, *yi = (const int32_t *)b[3].buf;
    for (Py_ssize_t k = 0; k < px * ow; k++)
        if (xi[k] < 0 || xi[k] >= width) {
            release(b, 6);
            PyErr_SetString(PyExc_ValueError, "shrink: a column index is outside the picture");
            return NULL;
        }
    for (Py_ssize_t k = 0; k < py * oh; k++)
        if (yi[k] < 0 || yi[k] >= height) {
            release(b, 6);
            PyErr_SetString(PyExc_ValueError, "shrink: a row index is outside the picture");
            return NULL;
        }
    float *rows = (float *)malloc(sizeof(float) * (size_t)(height * ow + width));
    if (rows == NULL) {
        release(b, 6);
        return PyErr_NoMemory();
    }
    const uint8_t *src = (const uint8_t *)b[0].buf + y0 * stride;
    Py_BEGIN_ALLOW_THREADS
#if HAVE_AVX2
    if (avx2_ok)
        across_avx2(src, stride, x0, height, width, xi, (const float *)b[2].buf, px, ow, rows, rows + height * ow);
    else
#endif
        across_scalar(src, stride, x0, height, width, xi, (const float *)b[2].buf, px, ow, rows, rows + height * ow);
    down(rows, ow, yi, (const float *)b[4].buf, py, oh, (float *)b[5].buf);
    Py_END_ALLOW_THREADS
    free(rows);
    release(b, 6);
    Py_RETURN_NONE;
}

static PyObject *isa(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
#if HAVE_AVX2
    return PyUnicode_FromString(avx2_ok ? "avx2" : "scalar");
#else
    return PyUnicode_FromString("scalar");
#endif
}

static PyObject *use_scalar(PyObject *self, PyObject *args) {
    (void)self;
    int on;
    if (!PyArg_ParseTuple(args, "p", &on)) return NULL;
#if HAVE_AVX2
    __builtin_cpu_init();
    avx2_ok = !on && __builtin_cpu_supports("avx2");
#endif
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"shrink", shrink, METH_VARARGS,
     "shrink(src, stride, x0, y0, width, height, xi, xw, px, yi, yw, py, out, ow, oh): the box (x0, y0, width, "
     "height) of the uint8 picture src (rows stride bytes apart) shrunk into out (oh x ow float32) by OpenCV's "
     "INTER_AREA sums: output column c of a row sums row[xi[p][c]] * xw[p][c] over p < px in order, output row d "
     "sums the rows' sums by yi[p][d], yw[p][d] over p < py; rounded half to even, saturated to 0..255."},
    {"isa", isa, METH_NOARGS, "What shrink runs on: 'avx2' or 'scalar'."},
    {"use_scalar", use_scalar, METH_VARARGS, "use_scalar(on): run shrink on the scalar code (tests), or back."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "area", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_area(void) {
#if HAVE_AVX2
    __builtin_cpu_init();
    avx2_ok = __builtin_cpu_supports("avx2");
#endif
    return PyModule_Create(&module);
}

/* spndl's own single-precision GEMM for the host-independent CPU numerics (spndl.runtime.kernels).
 *
 * Why a GEMM of our own: a convolution and a linear layer are GEMMs, and every vendor BLAS
 * picks its kernel and its blocking by the processor it finds (MKL per vendor and CPUID,
 * OpenBLAS by core type, oneDNN by cache sizes), so their last bits follow the host.  Here
 * the code and the blocking are fixed when spndl is installed:
 *
 * - one micro-kernel, AVX2 + FMA, MR x NR = 6 x 16: every element of C is a sum over k, in
 *   ascending order, of fused multiply-adds (IEEE 754 rounds each exactly once), started
 *   from zero in each block of KC values of k; the blocks' sums are then added to C in
 *   ascending order.  Only KC decides the order of the additions; MC, NC, the tile an
 *   element falls in and the number of threads do not, so the result is the same for any
 *   thread count and any processor with AVX2 and FMA;
 * - edges are computed as whole tiles on zero-padded copies (a zero adds nothing and
 *   changes no bit of the lanes that are kept), so there is no second, scalar code path;
 * - the module itself is compiled for the x86-64 baseline; only the kernel functions carry
 *   target("avx2,fma"), and they refuse to run where CPUID lacks either.
 *
 * Operands are addressed through a two-level index, so that an unfolded batch (N, C*kh*kw,
 * L) can be read as one matrix whose columns run over (sample, position) without a copy:
 * index i of a dimension is at (i / d) * hi + (i % d) * lo.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256   /* the one blocking constant that the numbers depend on */
#define MC 96    /* multiples of MR and NR: cache blocking only */
#define NC 1024
#define MAX_THREADS 64

typedef struct {
    Py_ssize_t d, hi, lo;
} dim2;

typedef struct {
    const float *p;
    dim2 rows, cols;
} matrix;

typedef struct {
    Py_ssize_t m0, m1, n0, n1, k;
    matrix a, b;
    float *c;
    dim2 c_rows, c_cols;
    int accumulate;
    int failed;
} job;

static inline Py_ssize_t at(const dim2 *x, Py_ssize_t i) { return (i / x->d) * x->hi + (i % x->d) * x->lo; }

/* Copies rows [i0, i0+mc) and k in [p0, p0+kc) of A into MR-row panels, k-major within each. */
static void pack_a(const matrix *a, Py_ssize_t i0, Py_ssize_t mc, Py_ssize_t m_end, Py_ssize_t p0,
                   Py_ssize_t kc, float *ap, Py_ssize_t *k_off) {
    for (Py_ssize_t k = 0; k < kc; k++) k_off[k] = at(&a->cols, p0 + k);
    for (Py_ssize_t ir = 0; ir < mc; ir += MR) {
        for (int r = 0; r < MR; r++) {
            Py_ssize_t i = i0 + ir + r;
            float *dst = ap + ir * kc + r;
            if (i < m_end) {
                const float *src = a->p + at(&a->rows, i);
                for (Py_ssize_t k = 0; k < kc; k++) dst[k * MR] = src[k_off[k]];
            } else {
                for (Py_ssize_t k = 0; k < kc; k++) dst[k * MR] = 0.0f;
            }
        }
    }
}

/* Copies k in [p0, p0+kc) and columns [j0, j0+nc) of B into NR-column panels. */
static void pack_b(const matrix *b, Py_ssize_t j0, Py_ssize_t nc, Py_ssize_t n_end, Py_ssize_t p0,
                   Py_ssize_t kc, float *bp, Py_ssize_t *j_off) {
    for (Py_ssize_t j = 0; j < nc; j++) j_off[j] = j0 + j < n_end ? at(&b->cols, j0 + j) : -1;
    for (Py_ssize_t k = 0; k < kc; k++) {
        const float *src = b->p + at(&b->rows, p0 + k);
        for (Py_ssize_t jr = 0; jr < nc; jr += NR) {
            float *dst = bp + jr * kc + k * NR;
            for (int c = 0; c < NR; c++) {
                Py_ssize_t o = j_off[jr + c];
                dst[c] = o >= 0 ? src[o] : 0.0f;
            }
        }
    }
}

/* t (MR x NR, row-major) = the k-ordered FMA sums of one A panel times one B panel. */
__attribute__((target("avx2,fma"))) static void micro(Py_ssize_t kc, const float *a, const float *b, float *t) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (Py_ssize_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
        x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += MR;
        b += NR;
    }
    _mm256_store_ps(t + 0 * NR, c00); _mm256_store_ps(t + 0 * NR + 8, c01);
    _mm256_store_ps(t + 1 * NR, c10); _mm256_store_ps(t + 1 * NR + 8, c11);
    _mm256_store_ps(t + 2 * NR, c20); _mm256_store_ps(t + 2 * NR + 8, c21);
    _mm256_store_ps(t + 3 * NR, c30); _mm256_store_ps(t + 3 * NR + 8, c31);
    _mm256_store_ps(t + 4 * NR, c40); _mm256_store_ps(t + 4 * NR + 8, c41);
    _mm256_store_ps(t + 5 * NR, c50); _mm256_store_ps(t + 5 * NR + 8, c51);
}

/* C[rows m0..m1, cols n0..n1] (+)= A B, blocked as BLIS does (jc, pc, ic, jr, ir). */
__attribute__((target("avx2,fma"))) static void *run_job(void *arg) {
    job *w = (job *)arg;
    float *ap = aligned_alloc(32, sizeof(float) * MC * KC);
    float *bp = aligned_alloc(32, sizeof(float) * KC * NC);
    Py_ssize_t *k_off = malloc(sizeof(Py_ssize_t) * (KC > NC ? KC : NC));
    Py_ssize_t *c_row = malloc(sizeof(Py_ssize_t) * MC), *c_col = malloc(sizeof(Py_ssize_t) * NC);
    float t[MR * NR] __attribute__((aligned(32)));
    if (!ap || !bp || !k_off || !c_row || !c_col) {
        w->failed = 1;
        goto done;
    }
    for (Py_ssize_t jc = w->n0; jc < w->n1; jc += NC) {
        Py_ssize_t nc = w->n1 - jc < NC ? w->n1 - jc : NC, nc_pad = (nc + NR - 1) / NR * NR;
        for (Py_ssize_t j = 0; j < nc; j++) c_col[j] = at(&w->c_cols, jc + j);
        for (Py_ssize_t pc = 0; pc < w->k; pc += KC) {
            Py_ssize_t kc = w->k - pc < KC ? w->k - pc : KC;
            int add = w->accumulate || pc > 0;
            pack_b(&w->b, jc, nc_pad, w->n1, pc, kc, bp, k_off);
            for (Py_ssize_t ic = w->m0; ic < w->m1; ic += MC) {
                Py_ssize_t mc = w->m1 - ic < MC ? w->m1 - ic : MC, mc_pad = (mc + MR - 1) / MR * MR;
                for (Py_ssize_t i = 0; i < mc; i++) c_row[i] = at(&w->c_rows, ic + i);
                pack_a(&w->a, ic, mc_pad, w->m1, pc, kc, ap, k_off);
                for (Py_ssize_t jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? (int)(nc - jr) : NR;
                    for (Py_ssize_t ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? (int)(mc - ir) : MR;
                        micro(kc, ap + ir * kc, bp + jr * kc, t);
                        for (int r = 0; r < mr; r++) {
                            float *row = w->c + c_row[ir + r];
                            const Py_ssize_t *col = c_col + jr;
                            if (add)
                                for (int c = 0; c < nr; c++) row[col[c]] += t[r * NR + c];
                            else
                                for (int c = 0; c < nr; c++) row[col[c]] = t[r * NR + c];
                        }
                    }
                }
            }
        }
    }
done:
    free(ap);
    free(bp);
    free(k_off);
    free(c_row);
    free(c_col);
    return NULL;
}

static int has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int parse_dim(PyObject *t, dim2 *x, const char *what) {
    if (!PyArg_ParseTuple(t, "nnn", &x->d, &x->hi, &x->lo)) return 0;
    if (x->d < 1) {
        PyErr_Format(PyExc_ValueError, "%s: divisor %zd must be >= 1", what, x->d);
        return 0;
    }
    return 1;
}

static PyObject *sgemm(PyObject *self, PyObject *args) {
    Py_ssize_t m, n, k;
    unsigned long long pa, pb, pc;
    PyObject *ar, *acl, *br, *bcl, *cr, *ccl;
    int accumulate, threads;
    job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    matrix a, b;
    dim2 c_rows, c_cols;
    if (!PyArg_ParseTuple(args, "nnnKOOKOOKOOpi", &m, &n, &k, &pa, &ar, &acl, &pb, &br, &bcl, &pc, &cr, &ccl,
                          &accumulate, &threads))
        return NULL;
    if (!parse_dim(ar, &a.rows, "a rows") || !parse_dim(acl, &a.cols, "a cols") || !parse_dim(br, &b.rows, "b rows") ||
        !parse_dim(bcl, &b.cols, "b cols") || !parse_dim(cr, &c_rows, "c rows") || !parse_dim(ccl, &c_cols, "c cols"))
        return NULL;
    if (m < 0 || n < 0 || k < 0) return PyErr_Format(PyExc_ValueError, "negative size %zd x %zd x %zd", m, n, k);
    if (!has_avx2_fma()) return PyErr_Format(PyExc_RuntimeError, "this processor lacks AVX2 or FMA");
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    a.p = (const float *)(uintptr_t)pa;
    b.p = (const float *)(uintptr_t)pb;
    if (m == 0 || n == 0) Py_RETURN_NONE;
    if (k == 0) {  /* an empty sum: C = 0, or C unchanged */
        if (!accumulate)
            for (Py_ssize_t i = 0; i < m; i++)
                for (Py_ssize_t j = 0; j < n; j++) ((float *)(uintptr_t)pc)[at(&c_rows, i) + at(&c_cols, j)] = 0.0f;
        Py_RETURN_NONE;
    }
    /* Threads split the larger of M and N into runs of whole tiles; which thread computes an
     * element does not change how it is computed. */
    int split_n = n >= m;
    Py_ssize_t size = split_n ? n : m, tile = split_n ? NR : MR;
    Py_ssize_t tiles = (size + tile - 1) / tile;
    if (threads > tiles) threads = (int)tiles;
    for (int t = 0; t < threads; t++) {
        Py_ssize_t lo = tiles * t / threads * tile, hi = tiles * (t + 1) / threads * tile;
        if (hi > size) hi = size;
        job *w = &jobs[t];
        w->m0 = split_n ? 0 : lo;
        w->m1 = split_n ? m : hi;
        w->n0 = split_n ? lo : 0;
        w->n1 = split_n ? hi : n;
        w->k = k;
        w->a = a;
        w->b = b;
        w->c = (float *)(uintptr_t)pc;
        w->c_rows = c_rows;
        w->c_cols = c_cols;
        w->accumulate = accumulate;
        w->failed = 0;
    }
    int started = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0) started = t;
        else { jobs[t].failed = 2; break; }
    run_job(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
    Py_END_ALLOW_THREADS
    for (int t = 0; t < threads; t++) {
        if (jobs[t].failed == 2) return PyErr_Format(PyExc_RuntimeError, "could not start GEMM thread %d", t);
        if (jobs[t].failed) return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *supported(PyObject *self, PyObject *noargs) { return PyBool_FromLong(has_avx2_fma()); }

/* The processor's brand string as CPUID reports it (also under an emulator, where
 * /proc/cpuinfo may still describe the host). */
static PyObject *cpu_brand(PyObject *self, PyObject *noargs) {
    unsigned int r[12] = {0};
    for (unsigned int i = 0; i < 3; i++)
        if (!__get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3])) break;
    char text[49];
    memcpy(text, r, 48);
    text[48] = 0;
    char *start = text;
    while (*start == ' ') start++;
    return PyUnicode_FromString(start);
}

static PyMethodDef methods[] = {
    {"sgemm", sgemm, METH_VARARGS,
     "sgemm(m, n, k, a, a_rows, a_cols, b, b_rows, b_cols, c, c_rows, c_cols, accumulate, threads): "
     "C (+)= A B on raw float32 pointers; each *_rows/*_cols is (d, hi, lo): index i at (i//d)*hi + (i%d)*lo"},
    {"supported", supported, METH_NOARGS, "Whether this processor has AVX2 and FMA."},
    {"cpu_brand", cpu_brand, METH_NOARGS, "The processor's brand string, from CPUID."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sgemm", "spndl's fixed-kernel float32 GEMM", -1,
                                    methods};

PyMODINIT_FUNC PyInit__sgemm(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    char kernel[96];
    snprintf(kernel, sizeof kernel, "spndl sgemm AVX2+FMA %dx%d, KC %d", MR, NR, KC);
    if (PyModule_AddStringConstant(m, "KERNEL", kernel) < 0 || PyModule_AddIntConstant(m, "KC", KC) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/*
 * Optional native kernels for the wasm backend: float32 matrix products and NHWC convolutions
 * (forward, input gradient, filter gradient) through OpenBLAS's sgemm.
 *
 * Every kernel works in place on the wasm backend's heap: JS passes a Float32Array over the whole
 * wasm memory (a SharedArrayBuffer on the threaded build) and element offsets into it. The view is
 * passed on every call, so a heap that grew since the last call is simply the new view.
 * Convolutions lower to im2col / col2im plus one sgemm per chunk of images.
 *
 * Threads: OpenBLAS runs single-threaded in each call, and this file spreads the work over its own
 * small pool (setThreads). Work is cut into parts that depend on the shapes only (chunks of images,
 * column or row blocks of a product) and partial sums are added in part order, so results are
 * bit-identical whatever the thread count. (OpenBLAS's own threading is not: with 2 threads it cuts
 * the inner dimension into different blocks than with 1, and it picks other kernels for small
 * products.) Idle pool threads sleep on a condition variable rather than spin, so they leave the
 * cores to the wasm threads between calls.
 *
 * Build: node native/build.mjs (see packages/models/README.md). Plain Node-API, no npm dependency.
 */
#define NAPI_VERSION 8
#define _POSIX_C_SOURCE 200809L
#include <node_api.h>
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenBLAS extensions (declared in its cblas.h too; repeated so other cblas.h headers compile). */
void openblas_set_num_threads(int);
char *openblas_get_config(void);

/* Upper bound of one im2col chunk, in floats (2 MiB): big enough for sgemm to run at full speed,
 * small enough to stay in a core's share of the cache between im2col and the product, and to give
 * every thread some chunks at cnn-small's batch of 128. */
#define CHUNK_FLOATS (1 << 19)
/* Most threads the pool runs (the calling thread included). */
#define MAX_THREADS 64
/* A product is cut into at most this many blocks, each at least MIN_BLOCK rows or columns wide and
 * at least PART_MACS multiply-adds, a power of two of them (smaller products run as one call). Fewer,
 * wider blocks pack the shared operand fewer times: the MLP's 64×784·784×512 runs as 2 blocks (it
 * was 8 of 64 columns, with 2²¹). */
#ifndef MAX_PARTS
#define MAX_PARTS 8
#endif
#define MIN_BLOCK 16
#ifndef PART_MACS
#define PART_MACS (1 << 23)
#endif

/* ---- thread pool ---------------------------------------------------------------------------- */

typedef void (*part_fn)(void *ctx, int64_t part, int worker);

/*
 * One job at a time, posted by the JS thread. Parts are claimed with a compare-and-swap on `state`
 * (job generation << 32 | next part), so a helper that wakes late finds the job finished (or a newer
 * one) and goes back to sleep, and the caller never waits for a helper that has not started: it
 * claims parts itself and waits only for parts already being computed. On a busy machine, where a
 * sleeping thread may take milliseconds to be scheduled, this keeps small products from stalling.
 */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static _Atomic int pool_threads = 1; /* threads that work, the caller included */
static int pool_created = 0; /* helper threads started (they never exit) */
static _Atomic uint64_t state = 0;
static _Atomic int64_t parts_done = 0;
static _Atomic(part_fn) job_fn;
static _Atomic(void *) job_ctx;
static _Atomic int64_t job_parts;

/* Claims and runs parts of the job of generation `gen` until none is left. */
static void run_parts(uint64_t gen, int worker) {
  for (;;) {
    uint64_t s = atomic_load(&state);
    if (s >> 32 != gen) return;
    const part_fn fn = atomic_load(&job_fn);
    void *ctx = atomic_load(&job_ctx);
    const int64_t parts = atomic_load(&job_parts);
    const int64_t part = (int64_t)(s & 0xffffffffu);
    if (part >= parts) return;
    if (!atomic_compare_exchange_weak(&state, &s, s + 1)) continue;
    fn(ctx, part, worker);
    atomic_fetch_add(&parts_done, 1);
  }
}

/* How long an idle helper watches for the next job before it sleeps (see helper_main). */
#ifndef SPIN_NS
#define SPIN_NS 50000
#endif

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Whether a job newer than generation `seen` is posted, watching for up to SPIN_NS. */
static int job_within_spin(uint64_t seen) {
  const int64_t until = now_ns() + SPIN_NS;
  for (int i = 1;; i++) {
    if (atomic_load_explicit(&state, memory_order_acquire) >> 32 != seen) return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && now_ns() > until) return 0;
  }
}

/*
 * A helper watches for the next job for SPIN_NS after each one before it sleeps on the condition
 * variable: the kernels of a training step come microseconds apart, and waking a sleeping thread
 * takes tens of microseconds (more on a virtual machine, where the idle core halts), which a small
 * product's part does not have to spare. 50 µs of watching costs little even on a busy machine.
 */
static void *helper_main(void *arg) {
  const int worker = (int)(intptr_t)arg;
  uint64_t seen = 0;
  for (;;) {
    if (!job_within_spin(seen)) {
      pthread_mutex_lock(&pool_lock);
      while (atomic_load(&state) >> 32 == seen) pthread_cond_wait(&pool_wake, &pool_lock);
      pthread_mutex_unlock(&pool_lock);
    }
    seen = atomic_load(&state) >> 32;
    if (worker < atomic_load(&pool_threads)) run_parts(seen, worker);
  }
  return NULL;
}

/* Runs fn(ctx, part, worker) for every part < parts, on the pool; returns when all are done. */
static void parallel_for(part_fn fn, void *ctx, int64_t parts) {
  if (pool_threads == 1 || parts <= 1 || pool_created == 0) {
    for (int64_t p = 0; p < parts; p++) fn(ctx, p, 0);
    return;
  }
  pthread_mutex_lock(&pool_lock);
  /* The previous job is complete (its caller waited for it), so no claim on it can succeed. */
  atomic_store(&job_fn, fn);
  atomic_store(&job_ctx, ctx);
  atomic_store(&job_parts, parts);
  atomic_store(&parts_done, 0);
  const uint64_t gen = (atomic_load(&state) >> 32) + 1;
  atomic_store(&state, gen << 32);
  pthread_cond_broadcast(&pool_wake);
  pthread_mutex_unlock(&pool_lock);
  run_parts(gen, 0);
  /* Only parts that a helper is computing right now remain. */
  while (atomic_load(&parts_done) < parts) sched_yield();
}

/* Uses `threads` threads (the caller and threads − 1 helpers); false if a helper cannot start. */
static int pool_resize(int threads) {
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  pthread_mutex_lock(&pool_lock);
  int ok = 1;
  while (pool_created < threads - 1) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, helper_main, (void *)(intptr_t)(pool_created + 1)) != 0) {
      ok = 0;
      break;
    }
    pthread_detach(thread);
    pool_created++;
  }
  pool_threads = ok ? threads : pool_created + 1;
  pthread_mutex_unlock(&pool_lock);
  return ok;
}

/* Per-worker scratch (im2col columns), grown on demand; only the JS thread calls the kernels. */
static float *scratch[MAX_THREADS];
static size_t scratch_floats[MAX_THREADS];

static float *scratch_for(int worker, size_t floats) {
  if (floats > scratch_floats[worker]) {
    free(scratch[worker]);
    scratch[worker] = (float *)malloc(floats * sizeof(float));
    scratch_floats[worker] = scratch[worker] ? floats : 0;
  }
  return scratch[worker];
}

/* Makes sure workers 0 … pool_threads − 1 have `floats` of scratch each (allocated up front, so a
 * failure is reported on the JS thread). */
static int scratch_ready(size_t floats) {
  for (int w = 0; w < pool_threads; w++)
    if (!scratch_for(w, floats)) return 0;
  return 1;
}

#define CHECK(env, call)                                                                 \
  do {                                                                                   \
    if ((call) != napi_ok) {                                                             \
      napi_throw_error((env), NULL, "unlearn_blas: Node-API call failed: " #call);       \
      return NULL;                                                                       \
    }                                                                                    \
  } while (0)

/*
 * The call's `want` arguments into `args` (exactly that many, else thrown); args[0] must be the
 * Float32Array over the wasm heap, whose base and length it returns. Shared by read_args and read_numbers.
 */
static int read_heap(napi_env env, napi_callback_info info, size_t want, napi_value *args, float **heap, size_t *heap_len) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != want) {
    napi_throw_type_error(env, NULL, "unlearn_blas: wrong number of arguments");
    return 0;
  }
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer;
  if (napi_get_typedarray_info(env, args[0], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float32_array ||
      data == NULL) {
    napi_throw_type_error(env, NULL, "unlearn_blas: the first argument must be a Float32Array over the wasm heap");
    return 0;
  }
  *heap = (float *)data;
  *heap_len = length;
  return 1;
}

/* Arguments: args[0] is the heap view, then integers. Returns the heap's base and length. */
static int read_args(napi_env env, napi_callback_info info, size_t want, napi_value *args, float **heap, size_t *heap_len,
                     int64_t *ints) {
  if (!read_heap(env, info, want, args, heap, heap_len)) return 0;
  for (size_t i = 1; i < want; i++) {
    if (napi_get_value_int64(env, args[i], &ints[i - 1]) != napi_ok) {
      napi_throw_type_error(env, NULL, "unlearn_blas: arguments after the heap must be numbers");
      return 0;
    }
  }
  return 1;
}

/* Whether [offset, offset + count) lies inside the heap. */
static int in_heap(napi_env env, size_t heap_len, int64_t offset, int64_t count) {
  if (offset < 0 || count < 0 || (uint64_t)offset + (uint64_t)count > heap_len) {
    napi_throw_range_error(env, NULL, "unlearn_blas: a tensor lies outside the wasm heap");
    return 0;
  }
  return 1;
}

/* One product C[m, n] = op(A) · op(B) (+ C if accumulate), row-major with leading dimensions. */
typedef struct {
  int ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  const float *a, *b;
  float *c;
} Product;

/* Blocks a product is cut into: a function of its shape only (see MAX_PARTS). */
static int64_t product_parts(int64_t m, int64_t n, int64_t k) {
  const int64_t wide = m >= n ? m : n;
  int64_t limit = m * n * k / PART_MACS;
  if (limit > MAX_PARTS) limit = MAX_PARTS;
  if (limit > wide / MIN_BLOCK) limit = wide / MIN_BLOCK;
  /* A power of two, so that 1, 2, 4 or 8 threads share the parts evenly. */
  int64_t parts = 1;
  while (parts * 2 <= limit) parts *= 2;
  return parts;
}

/* Rows (if m ≥ n) or columns of block `part` of `parts`: a multiple of MIN_BLOCK wide, maybe empty. */
static void block_of(const Product *p, int64_t parts, int64_t part, int64_t *from, int64_t *count) {
  const int64_t wide = p->m >= p->n ? p->m : p->n;
  const int64_t size = ((wide + parts - 1) / parts + MIN_BLOCK - 1) / MIN_BLOCK * MIN_BLOCK;
  *from = part * size;
  *count = *from >= wide ? 0 : (wide - *from < size ? wide - *from : size);
}

static void product_block(const Product *p, int64_t parts, int64_t part, float beta) {
  int64_t from, count;
  if (parts == 1) from = 0, count = p->m >= p->n ? p->m : p->n;
  else block_of(p, parts, part, &from, &count);
  if (count == 0) return;
  const float *a = p->a, *b = p->b;
  float *c = p->c;
  int64_t m = p->m, n = p->n;
  if (p->m >= p->n) {
    a += p->ta ? from : from * p->lda;
    c += from * p->ldc;
    m = count;
  } else {
    b += p->tb ? from * p->ldb : from;
    c += from;
    n = count;
  }
  cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)p->k, 1.0f, a,
              (int)p->lda, b, (int)p->ldb, beta, c, (int)p->ldc);
}

/* row[j] = relu(row[j] + bias[j]) (bias and ReLU each optional), in place; ReLU as TF.js's: NaN stays NaN, −0 becomes 0. */
static void epilogue(float *restrict row, const float *restrict bias, int64_t count, int relu) {
  if (bias)
    for (int64_t j = 0; j < count; j++) row[j] += bias[j];
  if (relu)
    for (int64_t j = 0; j < count; j++) {
      const float v = row[j];
      row[j] = v > 0.0f || v != v ? v : 0.0f;
    }
}

/* A batch of products sharing a shape, with an optional bias row and ReLU (the sgemm entry). */
typedef struct {
  Product base;
  int64_t parts, strideA, strideB, strideC;
  const float *bias;
  int relu;
} BatchJob;

static void batch_part(void *ctx, int64_t index, int worker) {
  (void)worker;
  const BatchJob *job = (const BatchJob *)ctx;
  const int64_t item = index / job->parts, part = index % job->parts;
  Product p = job->base;
  p.a += item * job->strideA, p.b += item * job->strideB, p.c += item * job->strideC;
  int64_t from = 0, count = p.m >= p.n ? p.m : p.n;
  if (job->parts > 1) block_of(&p, job->parts, part, &from, &count);
  if (count == 0) return;
  /* The rows and columns of C this part writes. */
  const int64_t r0 = p.m >= p.n ? from : 0, rows = p.m >= p.n ? count : p.m;
  const int64_t c0 = p.m >= p.n ? 0 : from, cols = p.m >= p.n ? p.n : count;
  if (p.k == 0) {
    for (int64_t r = r0; r < r0 + rows; r++) memset(p.c + r * p.ldc + c0, 0, (size_t)cols * sizeof(float));
  } else {
    product_block(&p, job->parts, part, 0.0f);
  }
  /* Bias after the product, as a separate add would be (so the bits are those of matMul + add). */
  for (int64_t r = r0; r < r0 + rows; r++) epilogue(p.c + r * p.ldc + c0, job->bias ? job->bias + c0 : NULL, cols, job->relu);
}

/*
 * sgemm(heap, batch, m, n, k, transA, transB, a, strideA, b, strideB, c, bias, relu)
 * For each i < batch: C_i[m, n] = op(A_i) · op(B_i) (+ bias[n]) (then max(0, ·) if relu), row-major,
 * A_i = heap[a + i·strideA …] is [m, k] ([k, m] if transA), B_i is [k, n] ([n, k] if transB).
 * A stride of 0 broadcasts that operand. bias < 0 means none.
 */
static napi_value sgemm(napi_env env, napi_callback_info info) {
  napi_value args[14];
  float *heap;
  size_t len;
  int64_t v[13];
  if (!read_args(env, info, 14, args, &heap, &len, v)) return NULL;
  const int64_t batch = v[0], m = v[1], n = v[2], k = v[3], ta = v[4], tb = v[5];
  const int64_t a = v[6], sa = v[7], b = v[8], sb = v[9], c = v[10], bias = v[11], relu = v[12];
  if (batch < 0 || m < 0 || n < 0 || k < 0 || sa < 0 || sb < 0) {
    napi_throw_range_error(env, NULL, "unlearn_blas: negative size");
    return NULL;
  }
  if (batch == 0 || m == 0 || n == 0) return NULL;
  if (!in_heap(env, len, a, (batch - 1) * sa + m * k) || !in_heap(env, len, b, (batch - 1) * sb + k * n) ||
      !in_heap(env, len, c, batch * m * n) || (bias >= 0 && !in_heap(env, len, bias, n)))
    return NULL;
  BatchJob job = {
      .base = {.ta = (int)ta, .tb = (int)tb, .m = m, .n = n, .k = k, .lda = ta ? m : k, .ldb = tb ? k : n, .ldc = n,
               .a = heap + a, .b = heap + b, .c = heap + c},
      .parts = product_parts(m, n, k), .strideA = sa, .strideB = sb, .strideC = m * n,
      .bias = bias >= 0 ? heap + bias : NULL, .relu = relu != 0,
  };
  parallel_for(batch_part, &job, batch * job.parts);
  return NULL;
}

/* Geometry of an NHWC convolution, filter [KH, KW, Ci, Co]. */
typedef struct {
  int64_t batch, h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, top, left;
} Conv;

static int read_conv(napi_env env, const int64_t *v, Conv *g) {
  g->batch = v[0], g->h = v[1], g->w = v[2], g->ci = v[3], g->oh = v[4], g->ow = v[5], g->co = v[6];
  g->kh = v[7], g->kw = v[8], g->sh = v[9], g->sw = v[10], g->dh = v[11], g->dw = v[12], g->top = v[13], g->left = v[14];
  if (g->batch < 0 || g->h < 0 || g->w < 0 || g->ci < 1 || g->oh < 0 || g->ow < 0 || g->co < 1 || g->kh < 1 || g->kw < 1 ||
      g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) {
    napi_throw_range_error(env, NULL, "unlearn_blas: invalid convolution geometry");
    return 0;
  }
  return 1;
}

/* Images per chunk so that chunk · OH · OW · KH · KW · Ci floats fit CHUNK_FLOATS (at least 1). */
static int64_t chunk_images(const Conv *g) {
  int64_t per = g->oh * g->ow * g->kh * g->kw * g->ci;
  int64_t n = per > 0 ? CHUNK_FLOATS / per : g->batch;
  if (n < 1) n = 1;
  return n < g->batch ? n : g->batch;
}

/* Whether the convolution reads each input pixel once, in order: the columns are then x itself. */
static int is_pointwise(const Conv *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0 && g->oh == g->h && g->ow == g->w;
}

/* cols[(b, oy, ox), (ky, kx, c)] = x[b, oy·sh + ky·dh − top, ox·sw + kx·dw − left, c], 0 outside. */
static void im2col(const float *x, const Conv *g, int64_t images, float *cols) {
  const int64_t ci = g->ci, rowlen = g->kh * g->kw * ci;
  for (int64_t b = 0; b < images; b++) {
    const float *img = x + b * g->h * g->w * ci;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      for (int64_t ox = 0; ox < g->ow; ox++) {
        float *row = cols + ((b * g->oh + oy) * g->ow + ox) * rowlen;
        for (int64_t ky = 0; ky < g->kh; ky++) {
          const int64_t iy = oy * g->sh + ky * g->dh - g->top;
          float *dst = row + ky * g->kw * ci;
          if (iy < 0 || iy >= g->h) {
            memset(dst, 0, (size_t)(g->kw * ci) * sizeof(float));
            continue;
          }
          const int64_t ix0 = ox * g->sw - g->left;
          if (g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w) {
            memcpy(dst, img + (iy * g->w + ix0) * ci, (size_t)(g->kw * ci) * sizeof(float));
            continue;
          }
          for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            if (ix < 0 || ix >= g->w) memset(dst + kx * ci, 0, (size_t)ci * sizeof(float));
            else memcpy(dst + kx * ci, img + (iy * g->w + ix) * ci, (size_t)ci * sizeof(float));
          }
        }
      }
    }
  }
}

/* The adjoint of im2col: dx[b, iy, ix, c] = Σ cols[(b, oy, ox), (ky, kx, c)] over the taps that read it. */
static void col2im(const float *cols, const Conv *g, int64_t images, float *dx) {
  const int64_t ci = g->ci, rowlen = g->kh * g->kw * ci;
  memset(dx, 0, (size_t)(images * g->h * g->w * ci) * sizeof(float));
  for (int64_t b = 0; b < images; b++) {
    float *img = dx + b * g->h * g->w * ci;
    for (int64_t oy = 0; oy < g->oh; oy++) {
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const float *row = cols + ((b * g->oh + oy) * g->ow + ox) * rowlen;
        for (int64_t ky = 0; ky < g->kh; ky++) {
          const int64_t iy = oy * g->sh + ky * g->dh - g->top;
          if (iy < 0 || iy >= g->h) continue;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ox * g->sw - g->left + kx * g->dw;
            if (ix < 0 || ix >= g->w) continue;
            const float *src = row + (ky * g->kw + kx) * ci;
            float *dst = img + (iy * g->w + ix) * ci;
            for (int64_t c = 0; c < ci; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

/* A convolution kernel call: tensors on the heap, geometry, and how the batch is chunked. */
typedef struct {
  Conv g;
  const float *x, *filter, *dy;
  float *out;      /* y, dx or (for the filter gradient) the per-chunk partial sums */
  const float *bias; /* forward only: added per output channel, or NULL */
  int relu;          /* forward only: max(0, ·) after the bias */
  int64_t chunk;   /* images per chunk */
  int pointwise;
} ConvJob;

static void chunk_range(const ConvJob *job, int64_t part, int64_t *b0, int64_t *images) {
  *b0 = part * job->chunk;
  *images = job->g.batch - *b0 < job->chunk ? job->g.batch - *b0 : job->chunk;
}

static void forward_part(void *ctx, int64_t part, int worker) {
  const ConvJob *job = (const ConvJob *)ctx;
  const Conv *g = &job->g;
  int64_t b0, images;
  chunk_range(job, part, &b0, &images);
  const int64_t k = g->kh * g->kw * g->ci, pix = g->oh * g->ow;
  const float *x = job->x + b0 * g->h * g->w * g->ci;
  const float *cols = x;
  if (!job->pointwise) {
    im2col(x, g, images, scratch[worker]);
    cols = scratch[worker];
  }
  float *y = job->out + b0 * pix * g->co;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(images * pix), (int)g->co, (int)k, 1.0f, cols, (int)k, job->filter,
              (int)g->co, 0.0f, y, (int)g->co);
  /* Bias and ReLU while the chunk's output is still in cache. */
  if (job->bias || job->relu)
    for (int64_t r = 0; r < images * pix; r++) epilogue(y + r * g->co, job->bias, g->co, job->relu);
}

static void input_grad_part(void *ctx, int64_t part, int worker) {
  const ConvJob *job = (const ConvJob *)ctx;
  const Conv *g = &job->g;
  int64_t b0, images;
  chunk_range(job, part, &b0, &images);
  const int64_t k = g->kh * g->kw * g->ci, pix = g->oh * g->ow;
  float *dx = job->out + b0 * g->h * g->w * g->ci;
  float *cols = job->pointwise ? dx : scratch[worker];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(images * pix), (int)k, (int)g->co, 1.0f, job->dy + b0 * pix * g->co,
              (int)g->co, job->filter, (int)g->co, 0.0f, cols, (int)k);
  if (!job->pointwise) col2im(cols, g, images, dx);
}

static void filter_grad_part(void *ctx, int64_t part, int worker) {
  const ConvJob *job = (const ConvJob *)ctx;
  const Conv *g = &job->g;
  int64_t b0, images;
  chunk_range(job, part, &b0, &images);
  const int64_t k = g->kh * g->kw * g->ci, pix = g->oh * g->ow;
  const float *x = job->x + b0 * g->h * g->w * g->ci;
  const float *cols = x;
  if (!job->pointwise) {
    im2col(x, g, images, scratch[worker]);
    cols = scratch[worker];
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)g->co, (int)(images * pix), 1.0f, cols, (int)k,
              job->dy + b0 * pix * g->co, (int)g->co, 0.0f, job->out + part * k * g->co, (int)g->co);
}

/*
 * Reads (heap, three tensor offsets, `extra` more integers into extras, 15 geometry values), checks
 * extents, and plans the chunks.
 */
static int conv_args(napi_env env, napi_callback_info info, float **heap, size_t *heap_len, int64_t *p, ConvJob *job, const int kinds[3],
                     int extra, int64_t *extras) {
  napi_value args[21];
  size_t len;
  int64_t v[20];
  if (!read_args(env, info, 19 + (size_t)extra, args, heap, &len, v)) return 0;
  *heap_len = len;
  memset(job, 0, sizeof(*job));
  for (int i = 0; i < extra; i++) extras[i] = v[3 + i];
  Conv *g = &job->g;
  if (!read_conv(env, v + 3 + extra, g)) return 0;
  const int64_t sizes[3] = {g->batch * g->h * g->w * g->ci, g->kh * g->kw * g->ci * g->co, g->batch * g->oh * g->ow * g->co};
  for (int i = 0; i < 3; i++) {
    p[i] = v[i];
    if (!in_heap(env, len, v[i], sizes[kinds[i]])) return 0;
  }
  job->chunk = chunk_images(g);
  job->pointwise = is_pointwise(g);
  if (!job->pointwise && !scratch_ready((size_t)(job->chunk * g->oh * g->ow * g->kh * g->kw * g->ci))) {
    napi_throw_error(env, NULL, "unlearn_blas: out of memory");
    return 0;
  }
  return 1;
}

static int64_t chunk_count(const ConvJob *job) { return (job->g.batch + job->chunk - 1) / job->chunk; }

enum { INPUT = 0, FILTER = 1, OUTPUT = 2 };

/* conv2d(heap, x, filter, y, bias, relu, geometry…): y = conv(x, filter) (+ bias[Co]) (then max(0, ·) if relu); bias < 0: none. */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  static const int kinds[3] = {INPUT, FILTER, OUTPUT};
  float *heap;
  size_t heap_len;
  int64_t p[3], extras[2];
  ConvJob job;
  if (!conv_args(env, info, &heap, &heap_len, p, &job, kinds, 2, extras)) return NULL;
  job.x = heap + p[0], job.filter = heap + p[1], job.out = heap + p[2];
  if (extras[0] >= 0) {
    if (!in_heap(env, heap_len, extras[0], job.g.co)) return NULL;
    job.bias = heap + extras[0];
  }
  job.relu = extras[1] != 0;
  if (job.g.batch * job.g.oh * job.g.ow == 0) return NULL;
  parallel_for(forward_part, &job, chunk_count(&job));
  return NULL;
}

/* conv2dBackpropInput(heap, dy, filter, dx, geometry…): dx = ∂⟨dy, conv(x, filter)⟩/∂x. */
static napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) {
  static const int kinds[3] = {OUTPUT, FILTER, INPUT};
  float *heap;
  size_t heap_len;
  int64_t p[3];
  ConvJob job;
  if (!conv_args(env, info, &heap, &heap_len, p, &job, kinds, 0, NULL)) return NULL;
  if (job.g.batch * job.g.oh * job.g.ow == 0) {
    memset(heap + p[2], 0, (size_t)(job.g.batch * job.g.h * job.g.w * job.g.ci) * sizeof(float));
    return NULL;
  }
  job.dy = heap + p[0], job.filter = heap + p[1], job.out = heap + p[2];
  parallel_for(input_grad_part, &job, chunk_count(&job));
  return NULL;
}

/* Partial filter gradients, one per chunk, summed in chunk order afterwards. */
static float *partials = NULL;
static size_t partials_floats = 0;

/* conv2dBackpropFilter(heap, x, dy, dw, geometry…): dw = ∂⟨dy, conv(x, filter)⟩/∂filter. */
static napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) {
  static const int kinds[3] = {INPUT, OUTPUT, FILTER};
  float *heap;
  size_t heap_len;
  int64_t p[3];
  ConvJob job;
  if (!conv_args(env, info, &heap, &heap_len, p, &job, kinds, 0, NULL)) return NULL;
  const int64_t size = job.g.kh * job.g.kw * job.g.ci * job.g.co;
  float *dw = heap + p[2];
  if (job.g.batch * job.g.oh * job.g.ow == 0) {
    memset(dw, 0, (size_t)size * sizeof(float));
    return NULL;
  }
  const int64_t chunks = chunk_count(&job);
  if ((size_t)(chunks * size) > partials_floats) {
    free(partials);
    partials = (float *)malloc((size_t)(chunks * size) * sizeof(float));
    partials_floats = partials ? (size_t)(chunks * size) : 0;
    if (!partials) {
      napi_throw_error(env, NULL, "unlearn_blas: out of memory");
      return NULL;
    }
  }
  job.x = heap + p[0], job.dy = heap + p[1], job.out = partials;
  parallel_for(filter_grad_part, &job, chunks);
  memcpy(dw, partials, (size_t)size * sizeof(float));
  for (int64_t c = 1; c < chunks; c++) {
    const float *part = partials + c * size;
    for (int64_t i = 0; i < size; i++) dw[i] += part[i];
  }
  return NULL;
}

/* ---- elementwise kernels ------------------------------------------------------------------- */

/* Elementwise work is cut into parts of this many elements (fixed, so results never depend on the threads). */
#define ELEMENT_PART (1 << 16)

static int64_t element_parts(int64_t n) { return (n + ELEMENT_PART - 1) / ELEMENT_PART; }

static void element_range(int64_t n, int64_t part, int64_t *from, int64_t *to) {
  *from = part * ELEMENT_PART;
  *to = *from + ELEMENT_PART < n ? *from + ELEMENT_PART : n;
}

/* Like read_args, for arguments that are numbers of either kind (offsets and scalars). */
static int read_numbers(napi_env env, napi_callback_info info, size_t want, float **heap, size_t *heap_len, double *numbers) {
  napi_value args[16];
  if (want > 16) {
    napi_throw_type_error(env, NULL, "unlearn_blas: wrong number of arguments");
    return 0;
  }
  if (!read_heap(env, info, want, args, heap, heap_len)) return 0;
  for (size_t i = 1; i < want; i++) {
    if (napi_get_value_double(env, args[i], &numbers[i - 1]) != napi_ok) {
      napi_throw_type_error(env, NULL, "unlearn_blas: arguments after the heap must be numbers");
      return 0;
    }
  }
  return 1;
}

/* An optional tensor of n floats at `offset` (< 0: none): its address, or NULL; 0 if it lies outside the heap (thrown). */
static int optional_tensor(napi_env env, float *heap, size_t heap_len, double offset, int64_t n, float **out) {
  *out = NULL;
  if (offset < 0) return 1;
  if (!in_heap(env, heap_len, (int64_t)offset, n)) return 0;
  *out = heap + (int64_t)offset;
  return 1;
}

typedef struct {
  const float *dy, *y;
  float *dx;
  int64_t n;
} ReluGradJob;

static void relu_grad_part(void *ctx, int64_t part, int worker) {
  (void)worker;
  const ReluGradJob *job = (const ReluGradJob *)ctx;
  int64_t from, to;
  element_range(job->n, part, &from, &to);
  const float *restrict dy = job->dy, *restrict y = job->y;
  float *restrict dx = job->dx;
  /* dy · step(y), step as TF.js defines it: 1 where y > 0, NaN where y is NaN, else 0 (branch-free, so it vectorises). */
  for (int64_t i = from; i < to; i++) {
    const float v = y[i];
    const float step = v > 0.0f ? 1.0f : 0.0f;
    dx[i] = dy[i] * (v == v ? step : v);
  }
}

/* reluGrad(heap, n, dy, y, dx): dx = dy · step(y), the gradient of ReLU through its output y. */
static napi_value relu_grad(napi_env env, napi_callback_info info) {
  float *heap;
  size_t len;
  double v[4];
  if (!read_numbers(env, info, 5, &heap, &len, v)) return NULL;
  const int64_t n = (int64_t)v[0];
  ReluGradJob job = {.n = n};
  float *dy, *y, *dx;
  if (n < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) {
    napi_throw_range_error(env, NULL, "unlearn_blas: reluGrad needs a size and three tensors");
    return NULL;
  }
  if (!optional_tensor(env, heap, len, v[1], n, &dy) || !optional_tensor(env, heap, len, v[2], n, &y) ||
      !optional_tensor(env, heap, len, v[3], n, &dx))
    return NULL;
  job.dy = dy, job.y = y, job.dx = dx;
  parallel_for(relu_grad_part, &job, element_parts(n));
  return NULL;
}

typedef struct {
  const float *w, *g, *buffer, *noise;
  float *w_out, *buffer_out;
  int64_t n;
  float momentum, lr, coupled_decay, decoupled_factor;
  int nesterov, coupled, decoupled;
} SgdJob;

/*
 * One SGD step, elementwise, in exactly the float32 operations (and order) of core's optimizers.ts
 * composite (each line one rounded operation; compiled with -ffp-contract=off, so never fused):
 *   g' = g + w·λ (coupled decay) ; w' = w·(1 − lr·λ) (decoupled) ;
 *   b = b_prev·μ + g' (or g' on the first step) ; d = nesterov ? g' + b·μ : b (or g' without momentum) ;
 *   d = d + noise ; w_new = w' − d·lr.
 */
static void sgd_part(void *ctx, int64_t part, int worker) {
  (void)worker;
  const SgdJob *job = (const SgdJob *)ctx;
  int64_t from, to;
  element_range(job->n, part, &from, &to);
  const float mu = job->momentum, lr = job->lr, lambda = job->coupled_decay, factor = job->decoupled_factor;
  /* No restrict here: w_out may be w and buffer_out buffer (the in-place update). */
  const float *w = job->w, *grad = job->g, *buffer = job->buffer, *noise = job->noise;
  float *w_out = job->w_out, *buffer_out = job->buffer_out;
  const int coupled = job->coupled, decoupled = job->decoupled, nesterov = job->nesterov;
  if (!coupled && !decoupled && !noise && !nesterov && buffer && buffer_out) {
    /* The common case (momentum, no decay, from the second step on), written out so that it vectorises. */
    if (w_out == w && buffer_out == buffer) {
      float *restrict wv = w_out, *restrict bv = buffer_out;
      const float *restrict gv = grad;
      for (int64_t i = from; i < to; i++) {
        const float kept = bv[i] * mu;
        const float b = kept + gv[i];
        bv[i] = b;
        const float step = b * lr;
        wv[i] = wv[i] - step;
      }
    } else {
      const float *restrict wv = w, *restrict bv = buffer, *restrict gv = grad;
      float *restrict wo = w_out, *restrict bo = buffer_out;
      for (int64_t i = from; i < to; i++) {
        const float kept = bv[i] * mu;
        const float b = kept + gv[i];
        bo[i] = b;
        const float step = b * lr;
        wo[i] = wv[i] - step;
      }
    }
    return;
  }
  for (int64_t i = from; i < to; i++) {
    const float wi = w[i];
    float g = grad[i];
    float base = wi;
    if (coupled) {
      const float decay = wi * lambda;
      g = g + decay;
    }
    if (decoupled) base = wi * factor;
    float d = g;
    if (buffer_out) {
      float b = g;
      if (buffer) {
        const float kept = buffer[i] * mu;
        b = kept + g;
      }
      buffer_out[i] = b;
      if (nesterov) {
        const float ahead = b * mu;
        d = g + ahead;
      } else {
        d = b;
      }
    }
    if (noise) d = d + noise[i];
    const float step = d * lr;
    w_out[i] = base - step;
  }
}

/*
 * sgdUpdate(heap, n, w, g, buffer, noise, wOut, bufferOut, momentum, lr, coupledDecay, decoupledFactor, flags)
 * Offsets < 0: buffer (first step), noise, bufferOut (no momentum) absent. flags: 1 nesterov, 2
 * coupled decay (g + w·coupledDecay), 4 decoupled decay (w·decoupledFactor).
 */
static napi_value sgd_update(napi_env env, napi_callback_info info) {
  float *heap;
  size_t len;
  double v[12];
  if (!read_numbers(env, info, 13, &heap, &len, v)) return NULL;
  const int64_t n = (int64_t)v[0];
  const int flags = (int)v[11];
  if (n < 0 || v[1] < 0 || v[2] < 0 || v[5] < 0) {
    napi_throw_range_error(env, NULL, "unlearn_blas: sgdUpdate needs a size, w, g and wOut");
    return NULL;
  }
  SgdJob job = {.n = n, .momentum = (float)v[7], .lr = (float)v[8], .coupled_decay = (float)v[9], .decoupled_factor = (float)v[10],
                .nesterov = (flags & 1) != 0, .coupled = (flags & 2) != 0, .decoupled = (flags & 4) != 0};
  float *w, *g, *buffer, *noise, *w_out, *buffer_out;
  if (!optional_tensor(env, heap, len, v[1], n, &w) || !optional_tensor(env, heap, len, v[2], n, &g) ||
      !optional_tensor(env, heap, len, v[3], n, &buffer) || !optional_tensor(env, heap, len, v[4], n, &noise) ||
      !optional_tensor(env, heap, len, v[5], n, &w_out) || !optional_tensor(env, heap, len, v[6], n, &buffer_out))
    return NULL;
  job.w = w, job.g = g, job.buffer = buffer, job.noise = noise, job.w_out = w_out, job.buffer_out = buffer_out;
  parallel_for(sgd_part, &job, element_parts(n));
  return NULL;
}

/* ---- max pooling and the bias gradient ------------------------------------------------------- */

/* An NHWC max pool: input [batch, h, w, c], output [batch, oh, ow, c], window fh × fw, stride, padding. */
typedef struct {
  const float *x, *dy;
  float *out;
  int64_t batch, h, w, c, oh, ow, fh, fw, sh, sw, top, left;
} PoolJob;

/* Rows and columns of the input that output pixel (oy, ox) reads. */
static void window_of(const PoolJob *g, int64_t oy, int64_t ox, int64_t *r0, int64_t *r1, int64_t *c0, int64_t *c1) {
  const int64_t rc = oy * g->sh - g->top, cc = ox * g->sw - g->left;
  *r0 = rc > 0 ? rc : 0, *r1 = rc + g->fh < g->h ? rc + g->fh : g->h;
  *c0 = cc > 0 ? cc : 0, *c1 = cc + g->fw < g->w ? cc + g->fw : g->w;
}

/* One image: out = max over each window, as the cpu backend takes it (strict >, from −∞: NaN never wins). */
static void max_pool_part(void *ctx, int64_t b, int worker) {
  (void)worker;
  const PoolJob *g = (const PoolJob *)ctx;
  const int64_t c = g->c;
  const float *img = g->x + b * g->h * g->w * c;
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      float *restrict best = g->out + ((b * g->oh + oy) * g->ow + ox) * c;
      int64_t r0, r1, c0, c1;
      window_of(g, oy, ox, &r0, &r1, &c0, &c1);
      for (int64_t d = 0; d < c; d++) best[d] = -INFINITY;
      for (int64_t r = r0; r < r1; r++) {
        for (int64_t col = c0; col < c1; col++) {
          const float *restrict v = img + (r * g->w + col) * c;
          for (int64_t d = 0; d < c; d++) best[d] = v[d] > best[d] ? v[d] : best[d];
        }
      }
    }
  }
}

/*
 * One image: dx = Σ over windows of dy at each window's first strict maximum (row-major; NaN never
 * wins; a window of NaNs or −∞ passes nothing), as the cpu backend and max-pool-grad.ts do. Per
 * window, the winner of every channel is found in one sweep over the window's pixels and dy written
 * in another, both across the channels (so they vectorise); where windows do not overlap the winner
 * gets dy itself, else dy is added.
 */
/* dy's bits where mask is set, else +0 (a bit mask rather than a branch, so loops vectorise; union punning is defined in C11). */
static inline float masked(float value, int set) {
  union { float f; int32_t i; } bits = {.f = value};
  bits.i &= -(int32_t)set;
  return bits.f;
}

/* max_pool_grad_part for the usual 2×2 pool of stride 2 without padding: one pass, each input pixel written once. */
static void max_pool_grad_2x2(const PoolJob *g, int64_t b) {
  const int64_t c = g->c, plane = g->h * g->w * c, row = g->w * c;
  const float *img = g->x + b * plane;
  float *dx = g->out + b * plane;
  if (2 * g->oh < g->h || 2 * g->ow < g->w) memset(dx, 0, (size_t)plane * sizeof(float)); /* rows or columns no window reads */
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      const int64_t at = 2 * oy * row + 2 * ox * c;
      const float *restrict x0 = img + at, *restrict x1 = x0 + c, *restrict x2 = x0 + row, *restrict x3 = x2 + c;
      float *restrict d0 = dx + at, *restrict d1 = d0 + c, *restrict d2 = d0 + row, *restrict d3 = d2 + c;
      const float *restrict grad = g->dy + ((b * g->oh + oy) * g->ow + ox) * c;
      int64_t d = 0;
#ifdef __SSE2__
      /* Four channels at a time: the same comparisons as the scalar loop below, as lane masks. */
      for (; d + 4 <= c; d += 4) {
        const __m128 a0 = _mm_loadu_ps(x0 + d), a1 = _mm_loadu_ps(x1 + d), a2 = _mm_loadu_ps(x2 + d), a3 = _mm_loadu_ps(x3 + d);
        const __m128 w0 = _mm_cmpgt_ps(a0, _mm_set1_ps(-INFINITY));
        __m128 best = _mm_or_ps(_mm_and_ps(w0, a0), _mm_andnot_ps(w0, _mm_set1_ps(-INFINITY)));
        const __m128 w1 = _mm_cmpgt_ps(a1, best);
        best = _mm_or_ps(_mm_and_ps(w1, a1), _mm_andnot_ps(w1, best));
        const __m128 w2 = _mm_cmpgt_ps(a2, best);
        best = _mm_or_ps(_mm_and_ps(w2, a2), _mm_andnot_ps(w2, best));
        const __m128 w3 = _mm_cmpgt_ps(a3, best);
        const __m128 gd = _mm_loadu_ps(grad + d);
        const __m128 k3 = w3, k2 = _mm_andnot_ps(w3, w2), k1 = _mm_andnot_ps(_mm_or_ps(w2, w3), w1);
        const __m128 k0 = _mm_andnot_ps(_mm_or_ps(w1, _mm_or_ps(w2, w3)), w0);
        _mm_storeu_ps(d0 + d, _mm_and_ps(k0, gd));
        _mm_storeu_ps(d1 + d, _mm_and_ps(k1, gd));
        _mm_storeu_ps(d2 + d, _mm_and_ps(k2, gd));
        _mm_storeu_ps(d3 + d, _mm_and_ps(k3, gd));
      }
#endif
      for (; d < c; d++) {
        /* The first strict maximum in row-major order, from −∞ (NaN never wins). */
        const float a0 = x0[d], a1 = x1[d], a2 = x2[d], a3 = x3[d];
        const int w0 = a0 > -INFINITY;
        float best = w0 ? a0 : -INFINITY;
        const int w1 = a1 > best;
        best = w1 ? a1 : best;
        const int w2 = a2 > best;
        best = w2 ? a2 : best;
        const int w3 = a3 > best;
        const float gd = grad[d];
        d0[d] = masked(gd, w0 && !w1 && !w2 && !w3);
        d1[d] = masked(gd, w1 && !w2 && !w3);
        d2[d] = masked(gd, w2 && !w3);
        d3[d] = masked(gd, w3);
      }
    }
  }
}

static void max_pool_grad_part(void *ctx, int64_t b, int worker) {
  (void)worker;
  const PoolJob *g = (const PoolJob *)ctx;
  if (g->fh == 2 && g->fw == 2 && g->sh == 2 && g->sw == 2 && g->top == 0 && g->left == 0 && 2 * g->oh <= g->h && 2 * g->ow <= g->w) {
    max_pool_grad_2x2(g, b);
    return;
  }
  const int64_t c = g->c, plane = g->h * g->w * c;
  const float *img = g->x + b * plane;
  float *dx = g->out + b * plane;
  const int overlapping = g->sh < g->fh || g->sw < g->fw;
  float *best = (float *)malloc((size_t)c * sizeof(float));
  int32_t *which = (int32_t *)malloc((size_t)c * sizeof(int32_t));
  if (!best || !which) abort(); /* a few kB per image */
  memset(dx, 0, (size_t)plane * sizeof(float));
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      const float *restrict grad = g->dy + ((b * g->oh + oy) * g->ow + ox) * c;
      int64_t r0, r1, c0, c1;
      window_of(g, oy, ox, &r0, &r1, &c0, &c1);
      for (int64_t d = 0; d < c; d++) best[d] = -INFINITY, which[d] = -1;
      int32_t k = 0;
      for (int64_t r = r0; r < r1; r++) {
        for (int64_t col = c0; col < c1; col++, k++) {
          const float *restrict v = img + (r * g->w + col) * c;
          float *restrict bv = best;
          int32_t *restrict wv = which;
          for (int64_t d = 0; d < c; d++) {
            /* Branch-free (so it vectorises): mask is all ones where v wins. */
            const int32_t mask = -(int32_t)(v[d] > bv[d]);
            bv[d] = v[d] > bv[d] ? v[d] : bv[d];
            wv[d] = (wv[d] & ~mask) | (k & mask);
          }
        }
      }
      k = 0;
      for (int64_t r = r0; r < r1; r++) {
        for (int64_t col = c0; col < c1; col++, k++) {
          float *restrict out = dx + (r * g->w + col) * c;
          const int32_t *restrict wv = which;
          if (overlapping) {
            for (int64_t d = 0; d < c; d++) out[d] += masked(grad[d], wv[d] == k);
          } else {
            /* Each pixel is in one window: it gets dy where it won (its bits, −0 and NaN included), else 0. */
            for (int64_t d = 0; d < c; d++) out[d] = masked(grad[d], wv[d] == k);
          }
        }
      }
    }
  }
  free(best);
  free(which);
}

/* Reads (heap, x, dy or -1, out, 12 geometry values) for the two pooling entries. */
static int pool_args(napi_env env, napi_callback_info info, PoolJob *job, int gradient) {
  float *heap;
  size_t len;
  double v[15];
  if (!read_numbers(env, info, 16, &heap, &len, v)) return 0;
  job->batch = (int64_t)v[3], job->h = (int64_t)v[4], job->w = (int64_t)v[5], job->c = (int64_t)v[6], job->oh = (int64_t)v[7],
  job->ow = (int64_t)v[8], job->fh = (int64_t)v[9], job->fw = (int64_t)v[10], job->sh = (int64_t)v[11], job->sw = (int64_t)v[12],
  job->top = (int64_t)v[13], job->left = (int64_t)v[14];
  if (job->batch < 0 || job->h < 0 || job->w < 0 || job->c < 0 || job->oh < 0 || job->ow < 0 || job->fh < 1 || job->fw < 1 || job->sh < 1 ||
      job->sw < 1) {
    napi_throw_range_error(env, NULL, "unlearn_blas: invalid pooling geometry");
    return 0;
  }
  const int64_t in = job->batch * job->h * job->w * job->c, out = job->batch * job->oh * job->ow * job->c;
  float *x, *dy = NULL, *o;
  if (v[0] < 0 || v[2] < 0 || (gradient && v[1] < 0)) {
    napi_throw_range_error(env, NULL, "unlearn_blas: pooling needs its tensors");
    return 0;
  }
  if (!optional_tensor(env, heap, len, v[0], in, &x) || (gradient && !optional_tensor(env, heap, len, v[1], out, &dy)) ||
      !optional_tensor(env, heap, len, v[2], gradient ? in : out, &o))
    return 0;
  job->x = x, job->dy = dy, job->out = o;
  return 1;
}

/* maxPool(heap, x, -1, y, batch, h, w, c, oh, ow, fh, fw, sh, sw, top, left) */
static napi_value max_pool(napi_env env, napi_callback_info info) {
  PoolJob job;
  if (!pool_args(env, info, &job, 0)) return NULL;
  parallel_for(max_pool_part, &job, job.batch);
  return NULL;
}

/* maxPoolGrad(heap, x, dy, dx, batch, h, w, c, oh, ow, fh, fw, sh, sw, top, left) */
static napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  PoolJob job;
  if (!pool_args(env, info, &job, 1)) return NULL;
  parallel_for(max_pool_grad_part, &job, job.batch);
  return NULL;
}

typedef struct {
  const float *x;
  double *partials; /* [parts, cols] */
  int64_t rows, cols;
} SumJob;

/* Rows per part of the sum over rows: fixed, so the partial sums (and their order) never depend on the threads. */
#define SUM_ROWS 2048

static void sum_rows_part(void *ctx, int64_t part, int worker) {
  (void)worker;
  const SumJob *job = (const SumJob *)ctx;
  const int64_t from = part * SUM_ROWS, to = from + SUM_ROWS < job->rows ? from + SUM_ROWS : job->rows;
  double *restrict acc = job->partials + part * job->cols;
  for (int64_t j = 0; j < job->cols; j++) acc[j] = 0.0;
  for (int64_t r = from; r < to; r++) {
    const float *restrict row = job->x + r * job->cols;
    for (int64_t j = 0; j < job->cols; j++) acc[j] += row[j];
  }
}

static double *sum_partials = NULL;
static size_t sum_partials_size = 0;

static int64_t sum_parts(int64_t rows) { return rows > 0 ? (rows + SUM_ROWS - 1) / SUM_ROWS : 0; }

/* Makes sure the partial sums of a [rows, cols] sum fit (false: out of memory). */
static int sum_partials_ready(int64_t rows, int64_t cols) {
  const size_t need = (size_t)(sum_parts(rows) * cols);
  if (need <= sum_partials_size) return 1;
  free(sum_partials);
  sum_partials = (double *)malloc(need * sizeof(double));
  sum_partials_size = sum_partials ? need : 0;
  return sum_partials != NULL;
}

/* out[j] = Σ_r x[r, j] (see sumRows); sum_partials_ready(rows, cols) first. */
static void sum_rows_into(const float *x, int64_t rows, int64_t cols, float *out) {
  const int64_t parts = sum_parts(rows);
  SumJob job = {.x = x, .partials = sum_partials, .rows = rows, .cols = cols};
  parallel_for(sum_rows_part, &job, parts);
  for (int64_t j = 0; j < cols; j++) {
    double total = 0.0;
    for (int64_t p = 0; p < parts; p++) total += sum_partials[p * cols + j];
    out[j] = (float)total;
  }
}

/* sumRows(heap, rows, cols, x, out): out[j] = Σ_r x[r, j] in float64 (rows in parts of SUM_ROWS, added in order), rounded to float32. */
static napi_value sum_rows(napi_env env, napi_callback_info info) {
  float *heap;
  size_t len;
  double v[4];
  if (!read_numbers(env, info, 5, &heap, &len, v)) return NULL;
  const int64_t rows = (int64_t)v[0], cols = (int64_t)v[1];
  float *x, *out;
  if (rows < 0 || cols < 0 || v[2] < 0 || v[3] < 0) {
    napi_throw_range_error(env, NULL, "unlearn_blas: sumRows needs rows, cols, x, out");
    return NULL;
  }
  if (!optional_tensor(env, heap, len, v[2], rows * cols, &x) || !optional_tensor(env, heap, len, v[3], cols, &out)) return NULL;
  if (!sum_partials_ready(rows, cols)) {
    napi_throw_error(env, NULL, "unlearn_blas: out of memory");
    return NULL;
  }
  sum_rows_into(x, rows, cols, out);
  return NULL;
}

/* ---- softmax cross-entropy ------------------------------------------------------------------ */

typedef struct {
  const float *logits, *dy;
  const int32_t *labels;
  float *out; /* loss [n] (forward) or dlogits [n, c] (gradient) */
  int64_t n, c;
} CrossEntropyJob;

/* Rows per part: fixed, so results never depend on the threads (each row is computed alone anyway). */
#define CE_ROWS 256

/* m = max of the row, s = Σ exp(z − m) in column order. */
static void row_max_and_sum(const float *z, int64_t c, float *max, float *sum) {
  float m = z[0];
  for (int64_t j = 1; j < c; j++) m = z[j] > m ? z[j] : m;
  float total = 0.0f;
  for (int64_t j = 0; j < c; j++) total += expf(z[j] - m);
  *max = m, *sum = total;
}

static void ce_forward_part(void *ctx, int64_t part, int worker) {
  (void)worker;
  const CrossEntropyJob *job = (const CrossEntropyJob *)ctx;
  const int64_t from = part * CE_ROWS, to = from + CE_ROWS < job->n ? from + CE_ROWS : job->n;
  for (int64_t i = from; i < to; i++) {
    const float *z = job->logits + i * job->c;
    float m, total;
    row_max_and_sum(z, job->c, &m, &total);
    const int32_t label = job->labels[i];
    /* −log softmax(z)[label] = log Σ exp(z − m) − (z[label] − m); a label outside 0 … c−1 has no term (0), as a one-hot of it. */
    job->out[i] = label >= 0 && label < job->c ? logf(total) - (z[label] - m) : 0.0f;
  }
}

static void ce_grad_part(void *ctx, int64_t part, int worker) {
  (void)worker;
  const CrossEntropyJob *job = (const CrossEntropyJob *)ctx;
  const int64_t from = part * CE_ROWS, to = from + CE_ROWS < job->n ? from + CE_ROWS : job->n;
  for (int64_t i = from; i < to; i++) {
    const float *z = job->logits + i * job->c;
    float *dz = job->out + i * job->c;
    float m, total;
    row_max_and_sum(z, job->c, &m, &total);
    const int32_t label = job->labels[i];
    const float g = job->dy[i];
    if (label < 0 || label >= job->c) {
      /* No class, no term: the row's loss is the constant 0. */
      memset(dz, 0, (size_t)job->c * sizeof(float));
      continue;
    }
    /* (softmax(z) − onehot(label)) · dy, per element. */
    for (int64_t j = 0; j < job->c; j++) {
      const float p = expf(z[j] - m) / total;
      dz[j] = (j == label ? p - 1.0f : p) * g;
    }
  }
}

/* Reads (heap, n, c, logits, labels, dy or -1, out) and runs the forward (dy < 0) or the gradient. */
static napi_value cross_entropy(napi_env env, napi_callback_info info, int gradient) {
  float *heap;
  size_t len;
  double v[6];
  if (!read_numbers(env, info, 7, &heap, &len, v)) return NULL;
  const int64_t n = (int64_t)v[0], c = (int64_t)v[1];
  if (n < 0 || c < 1 || v[2] < 0 || v[3] < 0 || v[5] < 0 || (gradient && v[4] < 0)) {
    napi_throw_range_error(env, NULL, "unlearn_blas: softmaxCrossEntropy needs n, c ≥ 1, logits, labels, (dy,) out");
    return NULL;
  }
  float *logits, *labels, *dy = NULL, *out;
  if (!optional_tensor(env, heap, len, v[2], n * c, &logits) || !optional_tensor(env, heap, len, v[3], n, &labels) ||
      (gradient && !optional_tensor(env, heap, len, v[4], n, &dy)) || !optional_tensor(env, heap, len, v[5], gradient ? n * c : n, &out))
    return NULL;
  CrossEntropyJob job = {.logits = logits, .labels = (const int32_t *)labels, .dy = dy, .out = out, .n = n, .c = c};
  parallel_for(gradient ? ce_grad_part : ce_forward_part, &job, (n + CE_ROWS - 1) / CE_ROWS);
  return NULL;
}

/* softmaxCrossEntropy(heap, n, c, logits, labels, -1, loss): loss[i] = −log softmax(logits[i])[labels[i]] (labels int32). */
static napi_value softmax_cross_entropy(napi_env env, napi_callback_info info) { return cross_entropy(env, info, 0); }

/* softmaxCrossEntropyGrad(heap, n, c, logits, labels, dy, dlogits): dlogits[i] = (softmax(logits[i]) − onehot(labels[i])) · dy[i] (0 for a label outside 0 … c−1). */
static napi_value softmax_cross_entropy_grad(napi_env env, napi_callback_info info) { return cross_entropy(env, info, 1); }

/* ---- a dense ReLU stack's gradients in one call ---------------------------------------------- */

/* Most layers a dense stack may have. */
#define STACK_MAX_LAYERS 32

/* Scratch of the stack kernels (the layers' outputs, two gradient rows, the loss weights), grown on demand. */
static float *stack_scratch = NULL;
static size_t stack_scratch_floats = 0;

/*
 * A dense stack as the plan (a Float64Array) describes it: [L, rows, d0 … dL, x, labels (int32),
 * <outputs>, kernel 1 … L, bias 1 … L], offsets in floats; kernel l is [d(l−1), d(l)], bias l is
 * [d(l)]. The entry reads its own outputs (`outputs` offsets) after the labels.
 */
typedef struct {
  int64_t layers, rows, d[STACK_MAX_LAYERS + 1], widest, activations;
  const float *x, *kernel[STACK_MAX_LAYERS], *bias[STACK_MAX_LAYERS];
  const int32_t *labels;
  const double *outputs; /* the output offsets, as given */
} Stack;

/*
 * Reads the plan (the entry's second argument) into `stack`, checking every tensor against the heap; the entry's outputs
 * are `fixed` + `per_layer` · L offsets.
 */
static int read_stack(napi_env env, napi_value plan_value, float *heap, size_t len, int64_t fixed, int64_t per_layer, Stack *stack) {
  napi_typedarray_type type;
  size_t count, offset;
  void *data;
  napi_value buffer;
  if (napi_get_typedarray_info(env, plan_value, &type, &count, &data, &buffer, &offset) != napi_ok || type != napi_float64_array || count < 2) {
    napi_throw_type_error(env, NULL, "unlearn_blas: a dense stack's plan must be a Float64Array");
    return 0;
  }
  const double *plan = (const double *)data;
  const int64_t layers = (int64_t)plan[0], rows = (int64_t)plan[1], outputs = fixed + per_layer * layers;
  if (layers < 1 || layers > STACK_MAX_LAYERS || rows < 1 || count != (size_t)(2 + (layers + 1) + 2 + outputs + 2 * layers)) {
    napi_throw_range_error(env, NULL, "unlearn_blas: a dense stack's plan has the wrong length");
    return 0;
  }
  stack->layers = layers, stack->rows = rows, stack->widest = 0, stack->activations = 0;
  for (int64_t l = 0; l <= layers; l++) {
    stack->d[l] = (int64_t)plan[2 + l];
    if (stack->d[l] < 1) {
      napi_throw_range_error(env, NULL, "unlearn_blas: a dense stack needs positive widths");
      return 0;
    }
    if (stack->d[l] > stack->widest) stack->widest = stack->d[l];
    if (l > 0) stack->activations += rows * stack->d[l];
  }
  const double *at = plan + 2 + layers + 1;
  float *x, *labels;
  if (!optional_tensor(env, heap, len, at[0], rows * stack->d[0], &x) || !optional_tensor(env, heap, len, at[1], rows, &labels) || !x || !labels) return 0;
  stack->x = x, stack->labels = (const int32_t *)labels, stack->outputs = at + 2;
  for (int64_t l = 0; l < layers; l++) {
    float *k, *b;
    if (!optional_tensor(env, heap, len, at[2 + outputs + l], stack->d[l] * stack->d[l + 1], &k) ||
        !optional_tensor(env, heap, len, at[2 + outputs + layers + l], stack->d[l + 1], &b) || !k || !b)
      return 0;
    stack->kernel[l] = k, stack->bias[l] = b;
  }
  return 1;
}

/*
 * An entry's start: reads the heap and the plan (see read_stack) and makes room in the scratch for
 * the layers' outputs, two gradient blocks of rows × widest and a row of loss weights (thrown if not).
 */
static int stack_begin(napi_env env, napi_callback_info info, int64_t fixed, int64_t per_layer, float **heap, size_t *len, Stack *stack) {
  napi_value args[2];
  if (!read_heap(env, info, 2, args, heap, len) || !read_stack(env, args[1], *heap, *len, fixed, per_layer, stack)) return 0;
  const size_t floats = (size_t)(stack->activations + 2 * stack->rows * stack->widest + stack->rows);
  if (floats <= stack_scratch_floats) return 1;
  free(stack_scratch);
  stack_scratch = (float *)malloc(floats * sizeof(float));
  stack_scratch_floats = stack_scratch ? floats : 0;
  if (!stack_scratch) napi_throw_error(env, NULL, "unlearn_blas: out of memory for a dense stack's scratch");
  return stack_scratch != NULL;
}

/* One product of the stack, as the sgemm entry runs it for one matrix (so with the same parts). */
static void stack_product(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c, const float *bias, int relu) {
  BatchJob job = {
      .base = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = ta ? m : k, .ldb = tb ? k : n, .ldc = n, .a = a, .b = b, .c = c},
      .parts = product_parts(m, n, k), .strideA = 0, .strideB = 0, .strideC = m * n, .bias = bias, .relu = relu,
  };
  parallel_for(batch_part, &job, job.parts);
}

/* The forward pass into the scratch: h[0] = x, h[l] = layer l's output (the logits last); returns the scratch after them. */
static float *stack_forward(const Stack *stack, const float **h) {
  h[0] = stack->x;
  float *next = stack_scratch;
  for (int64_t l = 0; l < stack->layers; l++) {
    stack_product(0, 0, stack->rows, stack->d[l + 1], stack->d[l], h[l], stack->kernel[l], next, stack->bias[l], l < stack->layers - 1);
    h[l + 1] = next;
    next += stack->rows * stack->d[l + 1];
  }
  return next;
}

/* dz ← ∂/∂logits of Σᵢ dyᵢ · crossEntropyᵢ (the loss gradient kernel's parts). */
static void stack_loss_gradient(const Stack *stack, const float *logits, const float *dy, float *dz) {
  CrossEntropyJob ce = {.logits = logits, .labels = stack->labels, .dy = dy, .out = dz, .n = stack->rows, .c = stack->d[stack->layers]};
  parallel_for(ce_grad_part, &ce, (stack->rows + CE_ROWS - 1) / CE_ROWS);
}

/* dz ← (dz · kernel[l]ᵀ) · step(h[l]), through dh: the gradient at layer l's input, then through layer l−1's ReLU. */
static void stack_back_through(const Stack *stack, int64_t l, const float *const *h, float *dz, float *dh) {
  stack_product(0, 1, stack->rows, stack->d[l], stack->d[l + 1], dz, stack->kernel[l], dh, NULL, 0);
  ReluGradJob relu = {.dy = dh, .y = h[l], .dx = dz, .n = stack->rows * stack->d[l]};
  parallel_for(relu_grad_part, &relu, element_parts(stack->rows * stack->d[l]));
}

/*
 * denseStackInputGrad(heap, plan), outputs [out]: ∇ₓ of Σᵢ crossEntropy(logits(xᵢ), labelsᵢ) through a
 * stack of dense layers, ReLU after each but the last, in one call: what the kernels of the JS path
 * compute one by one (the fused forward products, the loss gradient with dy = 1, then per layer the
 * product with the transposed kernel and the ReLU gradient), with the same parts in the same order,
 * so the same bits.
 */
static napi_value dense_stack_input_grad(napi_env env, napi_callback_info info) {
  float *heap, *out;
  size_t len;
  Stack stack;
  if (!stack_begin(env, info, 1, 0, &heap, &len, &stack)) return NULL;
  if (!optional_tensor(env, heap, len, stack.outputs[0], stack.rows * stack.d[0], &out) || !out) return NULL;
  const int64_t rows = stack.rows;
  const float *h[STACK_MAX_LAYERS + 1];
  float *dz = stack_forward(&stack, h), *dh = dz + rows * stack.widest, *ones = dh + rows * stack.widest;
  for (int64_t i = 0; i < rows; i++) ones[i] = 1.0f;
  stack_loss_gradient(&stack, h[stack.layers], ones, dz);
  for (int64_t l = stack.layers - 1; l > 0; l--) stack_back_through(&stack, l, h, dz, dh);
  stack_product(0, 1, rows, stack.d[0], stack.d[1], dz, stack.kernel[0], out, NULL, 0);
  return NULL;
}

/*
 * denseStackLossGrads(heap, plan), outputs [loss, kernel gradient 1 … L, bias gradient 1 … L]: for the
 * same stack, each example's cross-entropy (loss, [rows]) and the gradients of their mean with
 * respect to every kernel and bias, in one call: what core/mlp's lossGradients computes kernel by
 * kernel (the loss kernel, the mean's gradient 1/rows per example as TF.js's Div rounds it, the loss
 * gradient, then per layer the kernel gradient hᵀ·dz, the bias gradient as the Sum kernel adds, and
 * the product and ReLU gradient down to the layer below; the first layer's input gradient is not
 * computed), with the same parts in the same order, so the same bits.
 */
static napi_value dense_stack_loss_grads(napi_env env, napi_callback_info info) {
  float *heap;
  size_t len;
  Stack stack;
  if (!stack_begin(env, info, 1, 2, &heap, &len, &stack)) return NULL;
  const int64_t rows = stack.rows, layers = stack.layers;
  float *loss, *dkernel[STACK_MAX_LAYERS], *dbias[STACK_MAX_LAYERS];
  if (!optional_tensor(env, heap, len, stack.outputs[0], rows, &loss) || !loss) return NULL;
  for (int64_t l = 0; l < layers; l++) {
    if (!optional_tensor(env, heap, len, stack.outputs[1 + l], stack.d[l] * stack.d[l + 1], &dkernel[l]) ||
        !optional_tensor(env, heap, len, stack.outputs[1 + layers + l], stack.d[l + 1], &dbias[l]) || !dkernel[l] || !dbias[l])
      return NULL;
  }
  if (!sum_partials_ready(rows, stack.widest)) {
    napi_throw_error(env, NULL, "unlearn_blas: out of memory");
    return NULL;
  }
  const float *h[STACK_MAX_LAYERS + 1];
  float *dz = stack_forward(&stack, h), *dh = dz + rows * stack.widest, *weight = dh + rows * stack.widest;
  CrossEntropyJob ce = {.logits = h[layers], .labels = stack.labels, .out = loss, .n = rows, .c = stack.d[layers]};
  parallel_for(ce_forward_part, &ce, (rows + CE_ROWS - 1) / CE_ROWS);
  const float mean_weight = 1.0f / (float)rows;
  for (int64_t i = 0; i < rows; i++) weight[i] = mean_weight;
  stack_loss_gradient(&stack, h[layers], weight, dz);
  for (int64_t l = layers - 1; l >= 0; l--) {
    stack_product(1, 0, stack.d[l], stack.d[l + 1], rows, h[l], dz, dkernel[l], NULL, 0);
    sum_rows_into(dz, rows, stack.d[l + 1], dbias[l]);
    if (l > 0) stack_back_through(&stack, l, h, dz, dh);
  }
  return NULL;
}

/* setThreads(n): threads the kernels use (OpenBLAS itself stays single-threaded). */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t n;
  CHECK(env, napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc != 1 || napi_get_value_int32(env, arg, &n) != napi_ok || n < 1) {
    napi_throw_range_error(env, NULL, "unlearn_blas: setThreads needs a positive integer");
    return NULL;
  }
  if (!pool_resize(n)) {
    napi_throw_error(env, NULL, "unlearn_blas: could not start a thread");
    return NULL;
  }
  return NULL;
}

/* info(): { config: OpenBLAS's build string, threads: the kernels' thread count }. */
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, config, threads;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(env, napi_create_int32(env, pool_threads, &threads));
  CHECK(env, napi_set_named_property(env, out, "config", config));
  CHECK(env, napi_set_named_property(env, out, "threads", threads));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  /* Each call runs on one thread; the pool above does the threading (see the top of this file). */
  openblas_set_num_threads(1);
  const napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_default_method, NULL},
      {"conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default_method, NULL},
      {"conv2dBackpropInput", NULL, conv2d_backprop_input, NULL, NULL, NULL, napi_default_method, NULL},
      {"conv2dBackpropFilter", NULL, conv2d_backprop_filter, NULL, NULL, NULL, napi_default_method, NULL},
      {"reluGrad", NULL, relu_grad, NULL, NULL, NULL, napi_default_method, NULL},
      {"sgdUpdate", NULL, sgd_update, NULL, NULL, NULL, napi_default_method, NULL},
      {"maxPool", NULL, max_pool, NULL, NULL, NULL, napi_default_method, NULL},
      {"maxPoolGrad", NULL, max_pool_grad, NULL, NULL, NULL, napi_default_method, NULL},
      {"sumRows", NULL, sum_rows, NULL, NULL, NULL, napi_default_method, NULL},
      {"softmaxCrossEntropy", NULL, softmax_cross_entropy, NULL, NULL, NULL, napi_default_method, NULL},
      {"softmaxCrossEntropyGrad", NULL, softmax_cross_entropy_grad, NULL, NULL, NULL, napi_default_method, NULL},
      {"denseStackInputGrad", NULL, dense_stack_input_grad, NULL, NULL, NULL, napi_default_method, NULL},
      {"denseStackLossGrads", NULL, dense_stack_loss_grads, NULL, NULL, NULL, napi_default_method, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default_method, NULL},
      {"info", NULL, blas_info, NULL, NULL, NULL, napi_default_method, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }

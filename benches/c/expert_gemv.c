// How fast the CPU backend multiplies one token by expert matrices, per weight type and thread
// count, next to how fast the same threads can merely read that many bytes: a kernel that
// reaches much less than the read rate is compute-bound, and decoding with experts in host
// memory then scales with cores, not with memory bandwidth (issue 15, docs/BENCHMARKS.md
// "Host decode"). A diagnostic, not part of the crates.
//
// The matrices are GPT-OSS-20B's expert shape (2,880 x 2,880); 48 of them are the 4 experts x
// 3 matrices x 4 layers a token reads, 212 MB in MXFP4, more than the caches hold.
//
// Build against the shared libraries of a dynamic-link build (one command line):
//   lib=$(dirname $(ls target/release/build/llama-cpp-moe-sys-*/out/lib/libggml.so | head -n 1))
//   cc -O2 -pthread -o target/expert_gemv benches/c/expert_gemv.c
//      -Illama-cpp-sys/llama.cpp/ggml/include -L$lib -lggml -lggml-base -lggml-cpu -Wl,-rpath,$lib
//   target/expert_gemv [TYPE=mxfp4|q8_0|q4_0|bf16] [THREADS=1] [MATRICES=48] [ITERS=20]
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-cpu.h"
#include "ggml.h"

#define N 2880

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const uint64_t * data;
    size_t n;
    uint64_t sum;
} read_job;

static void * read_all(void * arg) {
    read_job * job = arg;
    uint64_t s = 0;
    for (size_t i = 0; i < job->n; i++) {
        s += job->data[i];
    }
    job->sum = s;
    return NULL;
}

// Bytes per second `threads` threads read from a buffer of `bytes`, best of 5.
static double read_rate(size_t bytes, int threads) {
    size_t n = bytes / sizeof(uint64_t);
    uint64_t * data = malloc(n * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++) {
        data[i] = i;
    }
    double best = 0;
    read_job jobs[256];
    pthread_t ids[256];
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (read_job){ data + n / threads * t, n / threads, 0 };
            pthread_create(&ids[t], NULL, read_all, &jobs[t]);
        }
        uint64_t total = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(ids[t], NULL);
            total += jobs[t].sum;
        }
        double rate = bytes / (now() - t0);
        if (total == 42) {  // keeps the sums alive
            printf("?");
        }
        best = rate > best ? rate : best;
    }
    free(data);
    return best;
}

int main(int argc, char ** argv) {
    const char * type_name = argc > 1 ? argv[1] : "mxfp4";
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    int n_mats = argc > 3 ? atoi(argv[3]) : 48;
    int iters = argc > 4 ? atoi(argv[4]) : 20;
    if (threads < 1 || threads > 256 || n_mats < 1 || iters < 1) {
        fprintf(stderr, "usage: %s [TYPE] [THREADS 1-256] [MATRICES] [ITERS]\n", argv[0]);
        return 2;
    }
    enum ggml_type type;
    if (!strcmp(type_name, "mxfp4")) {
        type = GGML_TYPE_MXFP4;
    } else if (!strcmp(type_name, "q8_0")) {
        type = GGML_TYPE_Q8_0;
    } else if (!strcmp(type_name, "q4_0")) {
        type = GGML_TYPE_Q4_0;
    } else if (!strcmp(type_name, "bf16")) {
        type = GGML_TYPE_BF16;
    } else {
        fprintf(stderr, "unknown type %s\n", type_name);
        return 2;
    }

    size_t mat_bytes = ggml_row_size(type, N) * N;
    struct ggml_init_params params = {
        .mem_size = (size_t) n_mats * (mat_bytes + N * sizeof(float) + 4096) + ggml_graph_overhead() + (1 << 20),
        .mem_buffer = NULL,
        .no_alloc = false,
    };
    struct ggml_context * ctx = ggml_init(params);
    if (!ctx) {
        fprintf(stderr, "ggml_init failed\n");
        return 1;
    }

    // Random weights in [-1, 1), quantized by ggml's own routine.
    float * src = malloc(sizeof(float) * N * N);
    srand(1);
    for (size_t i = 0; i < (size_t) N * N; i++) {
        src[i] = 2.0f * rand() / RAND_MAX - 1.0f;
    }
    struct ggml_tensor * x = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, N);
    for (int i = 0; i < N; i++) {
        ((float *) x->data)[i] = src[i];
    }
    struct ggml_cgraph * gf = ggml_new_graph(ctx);
    for (int m = 0; m < n_mats; m++) {
        struct ggml_tensor * w = ggml_new_tensor_2d(ctx, type, N, N);
        ggml_quantize_chunk(type, src, w->data, 0, N, N, NULL);
        ggml_build_forward_expand(gf, ggml_mul_mat(ctx, w, x));
    }
    free(src);

    for (int i = 0; i < 2; i++) {
        ggml_graph_compute_with_ctx(ctx, gf, threads);
    }
    double t0 = now();
    for (int i = 0; i < iters; i++) {
        ggml_graph_compute_with_ctx(ctx, gf, threads);
    }
    double per_iter = (now() - t0) / iters;
    double weight_bytes = (double) mat_bytes * n_mats;
    double read = read_rate((size_t) weight_bytes, threads);
    printf("%s threads %d: %d matrices %.1f MB, %.3f ms per token-product, %.2f GB/s of weights "
           "(%.2f per thread); plain read of as many bytes %.2f GB/s; kernel / read %.2f\n",
           type_name, threads, n_mats, weight_bytes / 1e6, per_iter * 1e3, weight_bytes / per_iter / 1e9,
           weight_bytes / per_iter / 1e9 / threads, read / 1e9, weight_bytes / per_iter / read);
    ggml_free(ctx);
    return 0;
}

// The benchmark loop of examples/bench_moe.rs, written in C against llama.h
// only: the zero-overhead bar the Rust loop is compared with. Both run in the
// same process, on the same model and context, alternating.

#include <stdint.h>
#include <time.h>

#include "llama.h"

typedef struct {
    double prompt_ms;  // request start -> prompt decoded
    double ttft_ms;    // request start -> first token sampled
    double decode_ms;  // first token sampled -> last token sampled
    int32_t n_prompt;
    int32_t n_decode;  // decode steps timed (tokens after the first)
    int32_t status;    // 0 ok, else the failing llama_decode code
} reference_result;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Decodes `prompt` in n_batch chunks, then samples greedily and decodes
// n_decode more tokens, ignoring end-of-generation (random weights emit it).
reference_result reference_run(struct llama_context * ctx, struct llama_sampler * greedy, llama_token * prompt,
                               int32_t n_prompt, int32_t n_decode, int32_t n_batch) {
    reference_result r = {0};
    r.n_prompt = n_prompt;
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_sampler_reset(greedy);

    const double t0 = now_ms();
    for (int32_t i = 0; i < n_prompt; i += n_batch) {
        const int32_t n = n_prompt - i < n_batch ? n_prompt - i : n_batch;
        const int32_t rc = llama_decode(ctx, llama_batch_get_one(prompt + i, n));
        if (rc != 0) {
            r.status = rc;
            return r;
        }
    }
    // llama_decode returns once the GPU has its work: wait for the GPU.
    llama_synchronize(ctx);
    r.prompt_ms = now_ms() - t0;
    llama_token token = llama_sampler_sample(greedy, ctx, -1);
    const double t_first = now_ms();
    r.ttft_ms = t_first - t0;
    for (int32_t i = 0; i < n_decode; i++) {
        const int32_t rc = llama_decode(ctx, llama_batch_get_one(&token, 1));
        if (rc != 0) {
            r.status = rc;
            return r;
        }
        token = llama_sampler_sample(greedy, ctx, -1);
        r.n_decode++;
    }
    r.decode_ms = now_ms() - t_first;
    return r;
}

// How many distinct experts each MoE layer routes a prompt to: the share of
// the expert weights that op offload copies to the GPU per ubatch (ggml's
// scheduler copies only the experts in use). Runs on the CPU backend; a
// diagnostic for docs/BENCHMARKS.md, not part of the crates.
//
// Build and run against the shared libraries of a dynamic-link build:
//   lib=$(dirname $(ls target/release/build/llama-cpp-sys-*/out/lib/libllama.so | head -n 1))
//   cc -O2 -o target/expert_usage benches/c/expert_usage.c -Illama-cpp-sys/llama.cpp/include
//      -Illama-cpp-sys/llama.cpp/ggml/include -L$lib -lllama -lggml -lggml-base -Wl,-rpath,$lib
//   (one command line)
//   target/expert_usage MODEL.gguf [N_PROMPT=512] [N_THREADS=2]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#define MAX_LAYERS 256
#define MAX_EXPERTS 1024

typedef struct {
    int n_expert;
    int n_layers;
    unsigned char used[MAX_LAYERS][MAX_EXPERTS];
} usage;

// cb_eval: asked once per tensor whether we want it, then called with its data.
static bool observe(struct ggml_tensor * t, bool ask, void * user_data) {
    const char * prefix = "ffn_moe_topk-";
    if (strncmp(t->name, prefix, strlen(prefix)) != 0) {
        return ask ? false : true;
    }
    if (ask) {
        return true;
    }
    usage * u = user_data;
    const int layer = atoi(t->name + strlen(prefix));
    if (layer < 0 || layer >= MAX_LAYERS || t->type != GGML_TYPE_I32) {
        return true;
    }
    const size_t n = ggml_nelements(t);
    int32_t * ids = malloc(n * sizeof(int32_t));
    ggml_backend_tensor_get(t, ids, 0, n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= 0 && ids[i] < MAX_EXPERTS) {
            u->used[layer][ids[i]] = 1;
        }
    }
    free(ids);
    if (layer + 1 > u->n_layers) {
        u->n_layers = layer + 1;
    }
    return true;
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N_PROMPT] [N_THREADS]\n", argv[0]);
        return 2;
    }
    const int n_prompt = argc > 2 ? atoi(argv[2]) : 512;
    const int n_threads = argc > 3 ? atoi(argv[3]) : 2;
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        return 1;
    }
    static usage u;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_prompt + 16;
    cp.n_batch = cp.n_ubatch = n_prompt;
    cp.n_threads = cp.n_threads_batch = n_threads;
    cp.cb_eval = observe;
    cp.cb_eval_user_data = &u;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        return 1;
    }
    // The benchmark's prompt: the same deterministic, non-special ids as examples/bench_moe.rs.
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    llama_token * prompt = malloc(n_prompt * sizeof(llama_token));
    for (int i = 0; i < n_prompt; i++) {
        prompt[i] = (llama_token) (((long long) i * 7919 + 13) % (n_vocab - 16));
    }
    if (llama_decode(ctx, llama_batch_get_one(prompt, n_prompt)) != 0) {
        return 1;
    }
    llama_synchronize(ctx);
    int n_expert = 0;
    char key[256], value[64];
    for (int i = 0; i < llama_model_meta_count(model); i++) {
        llama_model_meta_key_by_index(model, i, key, sizeof(key));
        const size_t len = strlen(key);
        if (len > 13 && strcmp(key + len - 13, ".expert_count") == 0) {
            llama_model_meta_val_str_by_index(model, i, value, sizeof(value));
            n_expert = atoi(value);
        }
    }
    int total = 0;
    printf("%s: %d-token prompt, experts used per layer (of %d):", argv[1], n_prompt, n_expert);
    for (int l = 0; l < u.n_layers; l++) {
        int c = 0;
        for (int e = 0; e < n_expert && e < MAX_EXPERTS; e++) {
            c += u.used[l][e];
        }
        total += c;
        printf(" %d", c);
    }
    printf("\ntotal %d of %d layer-experts (%.1f%%)\n", total, u.n_layers * n_expert, 100.0 * total / (u.n_layers * n_expert));
    free(prompt);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}

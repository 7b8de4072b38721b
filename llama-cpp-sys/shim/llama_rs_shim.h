// C interface of the shim compiled by build/main.rs. Every function catches
// all C++ exceptions: none crosses into Rust.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ggml-backend.h"
#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

// A std::regex compiled exactly as llama.cpp's model loader compiles tensor
// override patterns (ECMAScript grammar, matched with std::regex_search).
typedef struct llama_rs_regex llama_rs_regex;

// Returns NULL when the pattern does not compile; the reason (truncated to
// error_len - 1 bytes, NUL-terminated) is written to error when it is not NULL.
llama_rs_regex * llama_rs_regex_new(const char * pattern, char * error, size_t error_len);

// 1 when the pattern matches somewhere in text, 0 when not, -1 on error.
int32_t llama_rs_regex_search(const llama_rs_regex * regex, const char * text);

void llama_rs_regex_free(llama_rs_regex * regex);

// Bytes allocated in one buffer type: model weights, context (KV cache) and
// compute buffers, as llama.cpp accounts them itself.
typedef struct llama_rs_buft_memory {
    ggml_backend_buffer_type_t buft;
    size_t model;
    size_t context;
    size_t compute;
} llama_rs_buft_memory;

// Fills out[0..capacity) with the model's weight bytes per buffer type and
// returns how many entries exist (which may exceed capacity), or -1 on error.
int64_t llama_rs_model_memory_breakdown(const struct llama_model * model, llama_rs_buft_memory * out, size_t capacity);

// The same for a context: weights, KV cache and compute buffers.
int64_t llama_rs_context_memory_breakdown(const struct llama_context * ctx, llama_rs_buft_memory * out, size_t capacity);

// 1 when the context computes attention causally, 0 when not (an encoder,
// or a model whose GGUF says `<arch>.attention.causal = false`), -1 on
// error. llama_decode asserts n_tokens <= n_ubatch for non-causal contexts.
int32_t llama_rs_context_causal_attn(const struct llama_context * ctx);

#ifdef __cplusplus
}
#endif

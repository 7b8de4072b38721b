// The parts of llama.cpp that llama.h does not expose, wrapped in C.
//
// llama-model.h, llama-context.h and llama-ext.h are internal headers of the pinned tree; this
// file is compiled against the same tree as the library it calls.

#include "llama_rs_shim.h"

#include "llama-context.h"
#include "llama-ext.h"
#include "llama-model.h"

#include <cstring>
#include <exception>
#include <map>
#include <regex>

struct llama_rs_regex {
    std::regex regex;
};

namespace {

void write_error(char * error, size_t error_len, const char * message) {
    if (error == nullptr || error_len == 0) {
        return;
    }
    std::strncpy(error, message, error_len - 1);
    error[error_len - 1] = '\0';
}

template <typename Map, typename Fill>
int64_t copy_breakdown(const Map & breakdown, llama_rs_buft_memory * out, size_t capacity, Fill fill) {
    size_t i = 0;
    for (const auto & entry : breakdown) {
        if (out != nullptr && i < capacity) {
            out[i] = llama_rs_buft_memory{entry.first, 0, 0, 0};
            fill(out[i], entry.second);
        }
        ++i;
    }
    return static_cast<int64_t>(i);
}

}  // namespace

extern "C" llama_rs_regex * llama_rs_regex_new(const char * pattern, char * error, size_t error_len) {
    try {
        // The loader does `std::regex pattern(overrides->pattern)`: default
        // flags, i.e. ECMAScript.
        return new llama_rs_regex{std::regex(pattern)};
    } catch (const std::exception & e) {
        write_error(error, error_len, e.what());
    } catch (...) {
        write_error(error, error_len, "unknown C++ exception");
    }
    return nullptr;
}

extern "C" int32_t llama_rs_regex_search(const llama_rs_regex * regex, const char * text) {
    try {
        return std::regex_search(text, regex->regex) ? 1 : 0;
    } catch (...) {
        // std::regex_error(error_complexity / error_stack) on pathological input.
        return -1;
    }
}

extern "C" void llama_rs_regex_free(llama_rs_regex * regex) {
    delete regex;
}

extern "C" int64_t llama_rs_model_memory_breakdown(const struct llama_model * model, llama_rs_buft_memory * out, size_t capacity) {
    try {
        return copy_breakdown(model->memory_breakdown(), out, capacity,
                              [](llama_rs_buft_memory & dst, size_t bytes) { dst.model = bytes; });
    } catch (...) {
        return -1;
    }
}

extern "C" int64_t llama_rs_context_memory_breakdown(const struct llama_context * ctx, llama_rs_buft_memory * out, size_t capacity) {
    try {
        return copy_breakdown(llama_get_memory_breakdown(ctx), out, capacity,
                              [](llama_rs_buft_memory & dst, const llama_memory_breakdown_data & data) {
                                  dst.model   = data.model;
                                  dst.context = data.context;
                                  dst.compute = data.compute;
                              });
    } catch (...) {
        return -1;
    }
}

extern "C" int32_t llama_rs_context_causal_attn(const struct llama_context * ctx) {
    try {
        return ctx->get_cparams().causal_attn ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

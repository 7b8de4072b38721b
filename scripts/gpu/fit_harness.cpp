// llama.cpp's own fit (common/fit.cpp, `--fit` in its CLI) for one budget, so
// the planner can be measured against it on the same model and settings.
// Prints what common_fit_params decided, one item a line:
//   status N | n_gpu_layers N | n_ctx N | ot PATTERN=BUFFER_TYPE
// The `ot` lines are bench_moe's ot_file= format.
//
// Usage: fit_harness MODEL BUDGET_BYTES N_CTX N_UBATCH
// The margin given to llama.cpp is (free memory of GPU 0 now) - BUDGET_BYTES,
// llama.cpp's way of saying "use at most BUDGET_BYTES"; context settings as
// moe_offload's defaults (n_outputs_max 1, swa_full off).
#include "fit.h"
#include "llama.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

// common/log.cpp's one dependency on the rest of common (common.cpp is not
// built here): plain output.
bool tty_can_use_colors() {
    return false;
}

int main(int argc, char ** argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL BUDGET_BYTES N_CTX N_UBATCH\n", argv[0]);
        return 2;
    }
    const char * model = argv[1];
    const long long budget = atoll(argv[2]);
    llama_backend_init();

    llama_model_params mparams = llama_model_default_params();
    mparams.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = (uint32_t) atoi(argv[3]);
    cparams.n_batch = (uint32_t) atoi(argv[4]);
    cparams.n_ubatch = (uint32_t) atoi(argv[4]);
    cparams.n_outputs_max = 1;
    cparams.swa_full = false;

    // One margin per device; the budget applies to the first GPU.
    std::vector<size_t> margins(llama_max_devices(), 1u << 30);
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_GPU) {
            continue;
        }
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        margins[0] = free > (size_t) budget ? free - (size_t) budget : 0;
        printf("device %s free %zu budget %lld margin %zu\n", ggml_backend_dev_name(dev), free,
               budget, margins[0]);
        break;
    }
    std::vector<float> tensor_split(llama_max_devices(), 0.0f);
    std::vector<llama_model_tensor_buft_override> overrides(llama_max_tensor_buft_overrides());
    for (auto & o : overrides) {
        o = {nullptr, nullptr};
    }
    const common_params_fit_status status = common_fit_params(model, &mparams, &cparams,
        tensor_split.data(), overrides.data(), margins.data(), cparams.n_ctx, GGML_LOG_LEVEL_ERROR);
    printf("status %d\nn_gpu_layers %d\nn_ctx %u\n", (int) status, mparams.n_gpu_layers,
           cparams.n_ctx);
    for (const auto & o : overrides) {
        if (o.pattern == nullptr) {
            break;
        }
        printf("ot %s=%s\n", o.pattern, ggml_backend_buft_name(o.buft));
    }
    llama_backend_free();
    return status == COMMON_PARAMS_FIT_STATUS_ERROR ? 1 : 0;
}

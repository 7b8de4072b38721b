// Host-to-device copy bandwidth, the ceiling of prompt processing with
// experts in host memory (op offload streams every used expert to the GPU
// once per ubatch). Pinned (cudaMallocHost, what llama.cpp's CUDA_Host
// buffers are) and pageable (malloc) sources, 1 GiB per copy, best of 5.
// Build and run on the GPU machine: nvcc -O2 -o h2d h2d_bandwidth.cu && ./h2d
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>

#define CHECK(call) do { cudaError_t e = (call); if (e != cudaSuccess) { \
    fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e)); return 1; } } while (0)

static int measure(const char * label, void * host, void * device, size_t bytes) {
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    float best_ms = 1e30f;
    for (int i = 0; i < 5; i++) {
        CHECK(cudaEventRecord(start));
        CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice));
        CHECK(cudaEventRecord(stop));
        CHECK(cudaEventSynchronize(stop));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, start, stop));
        if (ms < best_ms) best_ms = ms;
    }
    printf("%-9s host->device: %.1f GB/s (1 GiB in %.2f ms, best of 5)\n", label, bytes / (best_ms / 1e3) / 1e9, best_ms);
    return 0;
}

int main() {
    const size_t bytes = size_t(1) << 30;
    void * device = nullptr;
    void * pinned = nullptr;
    CHECK(cudaMalloc(&device, bytes));
    CHECK(cudaMallocHost(&pinned, bytes));
    memset(pinned, 1, bytes);
    void * pageable = malloc(bytes);
    if (!pageable) return 1;
    memset(pageable, 1, bytes);
    if (measure("pinned", pinned, device, bytes) || measure("pageable", pageable, device, bytes)) return 1;
    free(pageable);
    CHECK(cudaFreeHost(pinned));
    CHECK(cudaFree(device));
    return 0;
}

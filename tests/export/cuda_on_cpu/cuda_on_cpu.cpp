// SPDX-License-Identifier: Apache-2.0
//
// cuda_on_cpu.cpp — the scheduler behind cuda_on_cpu.h: blocks one after the other, the threads of a block
// as fibres that switch only at barriers, per-block shared memory, launch checks, and a small C ABI for the
// tests (cuda_cpu_configure, cuda_cpu_fault, cuda_cpu_launch_log, the half conversions).
// Fibres switch with a few lines of assembly on x86-64 (swapcontext makes a system call per switch, and a
// block of 256 threads switches hundreds of thousands of times); elsewhere, or with -DCUDA_CPU_UCONTEXT,
// with ucontext.

#include "cuda_fp16.h"
#include "cuda_runtime.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDA_CPU_ASAN 1
#endif

#if defined(__x86_64__) && !defined(CUDA_CPU_UCONTEXT)
#define CUDA_CPU_ASM_SWITCH 1
// cuda_cpu_switch(&save_sp, new_sp): pushes the callee-saved registers and the SSE/x87 control words on the
// current stack, stores the stack pointer in *save_sp, loads new_sp and pops the same from there.
extern "C" void cuda_cpu_switch(void** save_sp, void* new_sp);
asm(R"(
    .text
    .p2align 4
    .type cuda_cpu_switch, @function
cuda_cpu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuda_cpu_switch, .-cuda_cpu_switch
)");
#endif

namespace cuda_cpu
{
namespace
{

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kDefaultDynamicLimit = 48 * 1024; // without cudaFuncSetAttribute
constexpr size_t kStaticLimit = 48 * 1024;

enum class State
{
    kRunnable,
    kAtBlockBarrier,
    kAtWarpBarrier,
    kExited,
};

struct Context
{
#ifdef CUDA_CPU_ASM_SWITCH
    void* sp = nullptr;
#else
    ucontext_t uc;
#endif
};

struct Fibre
{
    Context ctx;
    char* stack = nullptr;
    uint3 tid{0, 0, 0};
    unsigned linear = 0;
    State state = State::kRunnable;
    char const* file = "";
    int line = 0;
    WarpOp op = WarpOp::kSync;
    unsigned mask = 0;
    uint64_t value[2] = {0, 0}; // double-buffered by the parity of `count`
    uint64_t count = 0;         // warp operations this thread has passed
};

struct StaticShared
{
    int key;
    size_t bytes;
    void* ptr;
};

// One device, one calling thread at a time: the tests call in from one Python thread.
struct Device
{
    int optin = 166912; // cudaDevAttrMaxSharedMemoryPerBlockOptin of Jetson Orin (sm_87), 163 KiB
    int schedule = 0;   // 0 forward, 1 reverse, 2 shuffled
    unsigned seed = 0;
    cudaError_t last_error = cudaSuccess;
    std::string fault;
    std::string log;
    std::map<void const*, int> max_dynamic;
    std::vector<char*> stacks;
};

struct BlockRun
{
    LaunchConfig cfg;
    uint3 bid{0, 0, 0};
    std::vector<Fibre> fibres;
    Fibre* current = nullptr;
    Context scheduler;
    Body body = nullptr;
    void* ctx = nullptr;
    void* dynamic = nullptr;
    size_t static_bytes = 0;
    size_t shared_limit = 0;
    std::vector<StaticShared> statics;
    bool aborted = false;
    std::mt19937 rng;
};

Device gDevice;
BlockRun* gRun = nullptr;
#ifdef CUDA_CPU_ASAN
void const* gMainBottom = nullptr;
size_t gMainSize = 0;
#endif

char* stack_for(size_t i)
{
    while (gDevice.stacks.size() <= i)
    {
        void* p = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
        {
            std::perror("cuda_on_cpu: mmap of a fibre stack");
            std::abort();
        }
        mprotect(p, static_cast<size_t>(sysconf(_SC_PAGESIZE)), PROT_NONE); // guard page: overflow faults
        gDevice.stacks.push_back(static_cast<char*>(p));
    }
    return gDevice.stacks[i];
}

std::string where(Fibre const& f)
{
    char buf[160];
    std::snprintf(buf, sizeof buf, "block (%u, %u, %u) thread (%u, %u, %u)", gRun->bid.x, gRun->bid.y, gRun->bid.z,
        f.tid.x, f.tid.y, f.tid.z);
    return buf;
}

std::string site(Fibre const& f)
{
    return std::string(f.file) + ":" + std::to_string(f.line);
}

// ---- switching -----------------------------------------------------------------------------------------

void fibre_main();

void switch_context(Context& from, Context& to)
{
#ifdef CUDA_CPU_ASM_SWITCH
    cuda_cpu_switch(&from.sp, to.sp);
#else
    swapcontext(&from.uc, &to.uc);
#endif
}

#ifdef CUDA_CPU_ASM_SWITCH
[[noreturn]] void fibre_trampoline()
{
    fibre_main();
    std::abort();
}
#endif

void make_context(Context& c, char* stack, size_t bytes)
{
#ifdef CUDA_CPU_ASAN
    // the stack's previous fibre never unwound (it exited by switching away): clear its redzones
    size_t const page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    __asan_unpoison_memory_region(stack + page, bytes - page);
#endif
#ifdef CUDA_CPU_ASM_SWITCH
    // the frame cuda_cpu_switch pops: control words, r15 r14 r13 r12 rbx rbp, return address; the trampoline
    // starts with the stack aligned as after a call (rsp ≡ 8 mod 16)
    uintptr_t const top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
    uint64_t* frame = reinterpret_cast<uint64_t*>(top - 72);
    uint32_t mxcsr = 0;
    uint16_t fcw = 0;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fcw));
    frame[0] = mxcsr | (uint64_t{fcw} << 32);
    for (int i = 1; i <= 6; ++i)
        frame[i] = 0;
    frame[7] = reinterpret_cast<uint64_t>(&fibre_trampoline);
    frame[8] = 0;
    c.sp = frame;
#else
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = bytes;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, fibre_main, 0);
#endif
}

void enter(Fibre& f)
{
    gRun->current = &f;
#ifdef CUDA_CPU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack, kStackBytes);
    switch_context(gRun->scheduler, f.ctx);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    switch_context(gRun->scheduler, f.ctx);
#endif
    gRun->current = nullptr;
}

void leave(Fibre& f, bool exiting)
{
#ifdef CUDA_CPU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(exiting ? nullptr : &fake, gMainBottom, gMainSize);
    switch_context(f.ctx, gRun->scheduler);
    __sanitizer_finish_switch_fiber(fake, &gMainBottom, &gMainSize);
#else
    (void) exiting;
    switch_context(f.ctx, gRun->scheduler);
#endif
}

//! Records the first fault of the launch and never returns to the faulting thread (its block is abandoned).
[[noreturn]] void fault_here(std::string const& message)
{
    Fibre& f = *gRun->current;
    if (!gRun->aborted)
    {
        gRun->aborted = true;
        gDevice.fault = message + " (" + where(f) + ")";
    }
    for (;;)
        leave(f, false);
}

void fibre_main()
{
#ifdef CUDA_CPU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &gMainBottom, &gMainSize);
#endif
    gRun->body(gRun->ctx);
    Fibre& f = *gRun->current;
    f.state = State::kExited;
    leave(f, true);
    std::abort(); // never resumed
}

// ---- barriers ------------------------------------------------------------------------------------------

//! Releases every warp whose named lanes all wait at the same warp operation; true if any was released.
bool release_warps(BlockRun& run, std::string& problem)
{
    bool released = false;
    size_t const n = run.fibres.size();
    for (size_t w0 = 0; w0 < n; w0 += 32)
    {
        Fibre* first = nullptr;
        for (size_t i = w0; i < std::min(n, w0 + 32) && first == nullptr; ++i)
            if (run.fibres[i].state == State::kAtWarpBarrier)
                first = &run.fibres[i];
        if (first == nullptr)
            continue;
        bool ready = true;
        for (unsigned l = 0; l < 32; ++l)
        {
            if (!(first->mask >> l & 1u))
                continue;
            Fibre& g = run.fibres[w0 + l];
            if (g.state != State::kAtWarpBarrier || g.file != first->file || g.line != first->line
                || g.mask != first->mask || g.count != first->count || g.op != first->op)
            {
                ready = false;
                if (problem.empty())
                    problem = "lane " + std::to_string(l) + " of the warp of " + where(*first) + " is "
                        + (g.state == State::kExited ? std::string("exited")
                                : g.state == State::kAtBlockBarrier ? "at __syncthreads() " + site(g)
                                : g.state == State::kAtWarpBarrier ? "at another warp operation " + site(g)
                                                                    : std::string("running"))
                        + " while the warp operation at " + site(*first) + " waits for it";
            }
        }
        if (!ready)
            continue;
        for (unsigned l = 0; l < 32; ++l)
            if (first->mask >> l & 1u)
                run.fibres[w0 + l].state = State::kRunnable;
        released = true;
    }
    return released;
}

//! Releases the block barrier when every thread waits at the same __syncthreads(); true if released.
bool release_block(BlockRun& run, std::string& problem)
{
    Fibre const* first = nullptr;
    for (Fibre const& f : run.fibres)
        if (f.state == State::kAtBlockBarrier)
        {
            first = &f;
            break;
        }
    if (first == nullptr)
        return false;
    for (Fibre const& f : run.fibres)
    {
        if (f.state == State::kAtBlockBarrier && f.file == first->file && f.line == first->line)
            continue;
        if (problem.empty())
            problem = "divergent __syncthreads(): " + where(*first) + " waits at " + site(*first) + " but "
                + where(f) + " "
                + (f.state == State::kExited ? std::string("has exited")
                        : f.state == State::kAtBlockBarrier ? "waits at " + site(f)
                                                            : "waits at a warp operation " + site(f));
        return false;
    }
    for (Fibre& f : run.fibres)
        f.state = State::kRunnable;
    return true;
}

void run_block(BlockRun& run)
{
    dim3 const& b = run.cfg.block;
    size_t const n = static_cast<size_t>(b.x) * b.y * b.z;
    run.fibres.assign(n, Fibre{});
    run.statics.clear();
    run.static_bytes = 0;
    run.aborted = false;
    size_t const dyn = run.cfg.shared_bytes;
    run.dynamic = std::malloc(dyn);
    if (dyn > 0)
        std::memset(run.dynamic, 0xff, dyn);
    for (size_t i = 0; i < n; ++i)
    {
        Fibre& f = run.fibres[i];
        f.linear = static_cast<unsigned>(i);
        f.tid = uint3{static_cast<unsigned>(i % b.x), static_cast<unsigned>(i / b.x % b.y),
            static_cast<unsigned>(i / (static_cast<size_t>(b.x) * b.y))};
        f.stack = stack_for(i);
        make_context(f.ctx, f.stack, kStackBytes);
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i)
        order[i] = gDevice.schedule == 1 ? n - 1 - i : i;
    for (;;)
    {
        if (gDevice.schedule == 2)
            std::shuffle(order.begin(), order.end(), run.rng);
        bool live = false;
        for (size_t i : order)
        {
            Fibre& f = run.fibres[i];
            if (f.state == State::kRunnable)
                enter(f);
            if (run.aborted)
                break;
            live = live || f.state != State::kExited;
        }
        if (run.aborted || !live)
            break;
        std::string problem;
        if (release_warps(run, problem) || release_block(run, problem))
            continue;
        run.aborted = true;
        gDevice.fault = problem.empty() ? std::string("deadlock: no thread can proceed") : problem;
    }
    std::free(run.dynamic);
    for (StaticShared const& s : run.statics)
        std::free(s.ptr);
}

} // namespace

// ---- the API the rewritten kernels call ------------------------------------------------------------------

uint3 const& thread_idx() noexcept
{
    return gRun->current->tid;
}

uint3 const& block_idx() noexcept
{
    return gRun->bid;
}

dim3 const& block_dim() noexcept
{
    return gRun->cfg.block;
}

dim3 const& grid_dim() noexcept
{
    return gRun->cfg.grid;
}

void sync_threads(char const* file, int line)
{
    Fibre& f = *gRun->current;
    f.state = State::kAtBlockBarrier;
    f.file = file;
    f.line = line;
    leave(f, false);
}

uint64_t warp_exchange(WarpOp op, char const* file, int line, unsigned mask, uint64_t bits, int arg, int width)
{
    BlockRun& run = *gRun;
    Fibre& f = *run.current;
    unsigned const lane = f.linear % 32;
    size_t const w0 = f.linear - lane;
    if (!(mask >> lane & 1u))
        fault_here("warp operation at " + std::string(file) + ":" + std::to_string(line)
            + " called by a lane that is not in its mask");
    for (unsigned l = 0; l < 32; ++l)
        if ((mask >> l & 1u) && w0 + l >= run.fibres.size())
            fault_here("warp operation mask names lane " + std::to_string(l) + ", beyond the block's threads");
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
        fault_here("shuffle width " + std::to_string(width) + " is not a power of two ≤ 32");
    f.value[f.count & 1u] = bits;
    f.state = State::kAtWarpBarrier;
    f.op = op;
    f.file = file;
    f.line = line;
    f.mask = mask;
    leave(f, false);

    uint64_t const k = f.count++;
    auto peer = [&](unsigned l) -> uint64_t { return run.fibres[w0 + l].value[k & 1u]; };
    unsigned const w = static_cast<unsigned>(width);
    unsigned const group = lane / w * w;
    unsigned src = lane;
    switch (op)
    {
    case WarpOp::kSync: return 0;
    case WarpOp::kBallot:
    {
        uint64_t ballot = 0;
        for (unsigned l = 0; l < 32; ++l)
            if ((mask >> l & 1u) && peer(l) != 0)
                ballot |= uint64_t{1} << l;
        return ballot;
    }
    case WarpOp::kXor: src = lane ^ static_cast<unsigned>(arg); break;
    case WarpOp::kDown: src = lane % w + static_cast<unsigned>(arg) < w ? lane + static_cast<unsigned>(arg) : lane; break;
    case WarpOp::kUp: src = lane % w >= static_cast<unsigned>(arg) ? lane - static_cast<unsigned>(arg) : lane; break;
    case WarpOp::kIdx: src = group + (static_cast<unsigned>(arg) & (w - 1)); break;
    }
    if (src >= group + w)
        src = lane; // a later group: own value
    if (src >= 32 || !(mask >> src & 1u))
        fault_here("shuffle at " + std::string(file) + ":" + std::to_string(line) + " reads lane "
            + std::to_string(src) + ", which is not in its mask");
    return peer(src);
}

void* dynamic_shared() noexcept
{
    return gRun->dynamic;
}

void* static_shared_raw(int key, size_t bytes, size_t align)
{
    BlockRun& run = *gRun;
    for (StaticShared const& s : run.statics)
        if (s.key == key)
        {
            if (s.bytes != bytes)
                fault_here("two __shared__ declarations on line " + std::to_string(key));
            return s.ptr;
        }
    run.static_bytes += bytes;
    if (run.static_bytes > kStaticLimit || run.static_bytes + run.cfg.shared_bytes > run.shared_limit)
        fault_here("static shared memory " + std::to_string(run.static_bytes) + " B + dynamic "
            + std::to_string(run.cfg.shared_bytes) + " B exceeds the block's limit of "
            + std::to_string(run.shared_limit) + " B");
    size_t const rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(std::max<size_t>(align, 16), std::max<size_t>(rounded, 16));
    std::memset(p, 0xff, rounded);
    run.statics.push_back(StaticShared{key, bytes, p});
    return p;
}

cudaError_t set_func_attribute(void const* func, cudaFuncAttribute attr, int value)
{
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > gDevice.optin)
        return gDevice.last_error = cudaErrorInvalidValue;
    gDevice.max_dynamic[func] = value;
    return cudaSuccess;
}

cudaError_t launch_raw(void const* func, LaunchConfig const& cfg, Body body, void* ctx)
{
    dim3 const& g = cfg.grid;
    dim3 const& b = cfg.block;
    unsigned long long const threads = static_cast<unsigned long long>(b.x) * b.y * b.z;
    char line[200];
    std::snprintf(line, sizeof line, "grid=%u,%u,%u block=%u,%u,%u smem=%zu\n", g.x, g.y, g.z, b.x, b.y, b.z,
        cfg.shared_bytes);
    gDevice.log += line;
    if (threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64 || g.x == 0 || g.y == 0 || g.z == 0
        || g.x > 2147483647u || g.y > 65535 || g.z > 65535)
        return gDevice.last_error = cudaErrorInvalidConfiguration;
    if (cfg.max_threads != 0 && threads > cfg.max_threads)
        return gDevice.last_error = cudaErrorLaunchOutOfResources; // more threads than __launch_bounds__
    auto const attr = gDevice.max_dynamic.find(func);
    size_t const dyn_limit = attr != gDevice.max_dynamic.end() ? static_cast<size_t>(attr->second) : kDefaultDynamicLimit;
    if (cfg.shared_bytes > dyn_limit)
        return gDevice.last_error = cudaErrorInvalidValue;

    BlockRun run;
    run.cfg = cfg;
    run.body = body;
    run.ctx = ctx;
    run.shared_limit = std::max(dyn_limit, kDefaultDynamicLimit);
    run.rng.seed(gDevice.seed);
    BlockRun* const outer = gRun;
    gRun = &run;
    unsigned long long const blocks = static_cast<unsigned long long>(g.x) * g.y * g.z;
    for (unsigned long long i = 0; i < blocks && !run.aborted; ++i)
    {
        unsigned long long const k = gDevice.schedule == 1 ? blocks - 1 - i : i;
        run.bid = uint3{static_cast<unsigned>(k % g.x), static_cast<unsigned>(k / g.x % g.y),
            static_cast<unsigned>(k / (static_cast<unsigned long long>(g.x) * g.y))};
        run_block(run);
    }
    gRun = outer;
    if (run.aborted)
        return gDevice.last_error = cudaErrorLaunchFailure;
    return cudaSuccess;
}

} // namespace cuda_cpu

// ---- the runtime API ---------------------------------------------------------------------------------------

cudaError_t cudaGetDevice(int* device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device)
{
    if (device != 0)
        return cudaErrorInvalidValue;
    switch (attr)
    {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = cuda_cpu::gDevice.optin; return cudaSuccess;
    }
    return cudaErrorInvalidValue;
}

cudaError_t cudaGetLastError()
{
    cudaError_t const e = cuda_cpu::gDevice.last_error;
    cuda_cpu::gDevice.last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError()
{
    return cuda_cpu::gDevice.last_error;
}

cudaError_t cudaDeviceSynchronize()
{
    return cudaSuccess; // launches ran synchronously
}

cudaError_t cudaStreamSynchronize(cudaStream_t)
{
    return cudaSuccess;
}

char const* cudaGetErrorString(cudaError_t error)
{
    switch (error)
    {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

// ---- the tests' controls -------------------------------------------------------------------------------------

extern "C"
{

//! Device and scheduling for the next launches: opt-in shared memory per block (bytes), thread order at
//! every round (0 forward, 1 reverse — blocks too —, 2 shuffled with `seed`). Clears faults, log, attributes.
void cuda_cpu_configure(int shared_optin, int schedule, unsigned seed)
{
    cuda_cpu::gDevice.optin = shared_optin;
    cuda_cpu::gDevice.schedule = schedule;
    cuda_cpu::gDevice.seed = seed;
    cuda_cpu::gDevice.fault.clear();
    cuda_cpu::gDevice.log.clear();
    cuda_cpu::gDevice.max_dynamic.clear();
    cuda_cpu::gDevice.last_error = cudaSuccess;
}

//! The first fault since cuda_cpu_configure ("" if none): a divergent barrier, a bad shuffle, shared memory.
char const* cuda_cpu_fault()
{
    return cuda_cpu::gDevice.fault.c_str();
}

//! One line per launch since cuda_cpu_configure: "grid=x,y,z block=x,y,z smem=bytes".
char const* cuda_cpu_launch_log()
{
    return cuda_cpu::gDevice.log.c_str();
}

void cuda_cpu_float_to_half(float const* in, uint16_t* out, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        out[i] = __float2half_rn(in[i]).__x;
}

void cuda_cpu_half_to_float(uint16_t const* in, float* out, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        out[i] = __half2float(__half{in[i]});
}

} // extern "C"

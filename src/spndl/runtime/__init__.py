"""Where the numbers are computed: the CPU numerics (numerics) and spndl's fixed-kernel GEMM
(kernels, _sgemm.c) that make a CPU run's bits host-independent, and the GPU slot leases of
concurrent jobs (devices, locks)."""

# Environment for every JVM that runs libtorch (sourced by scripts; containers set the same variables).
# glibc malloc: one arena, no mmap for big blocks, no trimming. Without these, libtorch's large per-step
# tensors are mmapped and page-faulted anew each step: a third of the CPU time on a small ConvNet.
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1}
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-4294967296}
export MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-68719476736}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-1073741824}
# oneDNN's widest instruction set is chosen inside the JVM before its first convolution (SELFSUP_CPU_ISA: auto by
# default, i.e. AVX-512 only where a trial on this machine passed; see docs/numerics.md), so nothing is set here.
# DJL must never download at run time, nor probe a cloud metadata address at start.
export DJL_OFFLINE=true
SELFSUP_JVM_OPTS="${SELFSUP_JVM_OPTS:--Xmx4g} -Dai.djl.offline=true"

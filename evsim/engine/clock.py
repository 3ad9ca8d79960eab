"""The processor's cycle counter inside compiled code: what `simulate(..., profile=True)` times with.

The engine's kernels are called from its compiled run loop, not from Python, so a per-projection
time has to be read there. `cycles()` is LLVM's `readcyclecounter` (RDTSC on x86-64: about 20
cycles, no system call, no lock), readable from any Numba kernel and from Python. The counter
ticks at a constant rate on the cores of one machine (x86-64's invariant TSC); the float run
converts cycles to seconds by reading the counter and `time.perf_counter` on both sides of its
compiled loop, so no frequency is assumed. Where the counter is not readable it returns 0 and a
profiled run says so.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _read_cycle_counter(typingctx):
    """int64 value of llvm.readcyclecounter (monotonic ticks; 0 where the target has none)."""

    def codegen(context, builder, signature, args):
        fn_type = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fn_type, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@njit(cache=True, nogil=True)
def cycles() -> int:
    """The cycle counter now (int64 ticks), from compiled code or from Python."""
    return _read_cycle_counter()


__all__ = ["cycles"]

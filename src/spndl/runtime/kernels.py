"""Convolutions and linear layers on spndl's own fixed-kernel GEMM (``spndl.runtime._sgemm``), for
the host-independent CPU numerics (``train.cpu_isa: avx2``, spndl.runtime.numerics).

A convolution is an unfold (im2col: copies, no arithmetic) and one GEMM over the whole
batch; its backward is two GEMMs and a fold (col2im: additions in a fixed loop order).
Vendor libraries give those GEMMs bits that follow the processor (spndl.runtime.numerics); this
one's kernel and blocking are fixed at install time, and its result does not depend on the
thread count either, so the same weights and inputs give the same bits on every host with
AVX2 and FMA, at the host's native speed.

The model stays torchvision's: ``install`` changes only the class of each ``nn.Conv2d`` and
``nn.Linear`` to a subclass whose forward calls these functions, so parameter names, the
state dict, checkpoints and ImageNet weights are untouched; ``uninstall`` turns them back
(for the ONNX export, which must see the standard operators).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from spndl.runtime import _sgemm
except ImportError as e:  # a checkout run without `pip install -e .`, or a build without a compiler
    _sgemm, IMPORT_ERROR = None, e
else:
    IMPORT_ERROR = None

FLAT = 1 << 62  # the divisor of a one-level index: i // FLAT is 0 for every real index


class KernelError(RuntimeError):
    """spndl's GEMM cannot run in this process."""


def kernel() -> str:
    """The kernel that runs, as a run records it; raises KernelError where none can."""
    if _sgemm is None:
        raise KernelError(f"spndl's GEMM extension (spndl.runtime._sgemm) is not built ({IMPORT_ERROR}); "
                          "reinstall spndl with `pip install -e .` on a machine with a C compiler, "
                          "or choose train.cpu_isa native or x86-64")
    if not _sgemm.supported():
        raise KernelError("spndl's GEMM needs AVX2 and FMA, which this processor lacks; choose train.cpu_isa x86-64")
    return _sgemm.KERNEL


def _flat(stride: int) -> tuple[int, int, int]:
    return (FLAT, 0, stride)


def _gemm(m: int, n: int, k: int, a: torch.Tensor, a_rows, a_cols, b: torch.Tensor, b_rows, b_cols,
          c: torch.Tensor, c_rows, c_cols) -> torch.Tensor:
    """C = A B on float32 CPU tensors addressed by (d, hi, lo) index triples (see _sgemm.c)."""
    for t in (a, b, c):
        if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
            raise KernelError(f"spndl's GEMM takes contiguous float32 CPU tensors, not {t.dtype} on {t.device}")
    _sgemm.sgemm(m, n, k, a.data_ptr(), a_rows, a_cols, b.data_ptr(), b_rows, b_cols, c.data_ptr(), c_rows, c_cols,
                 False, torch.get_num_threads())
    return c


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for 2-D tensors, either possibly a transposed view (read in place, never copied)."""
    (m, k), n = a.shape, b.shape[1]
    a_, b_ = _plain(a), _plain(b)
    out = torch.empty(m, n)
    return _gemm(m, n, k, a_[0], _flat(a_[1]), _flat(a_[2]), b_[0], _flat(b_[1]), _flat(b_[2]),
                 out, _flat(n), _flat(1))


def _plain(t: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(contiguous storage, row stride, column stride) of a 2-D tensor or its transpose."""
    if t.is_contiguous():
        return t, t.stride(0), 1
    if t.t().is_contiguous():
        return t.t(), 1, t.stride(1)
    t = t.contiguous()
    return t, t.stride(0), 1


class _Linear(torch.autograd.Function):
    """y = x W^T + b, its gradients by the same GEMM (grad b: ATen's sum, capped like the rest)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        y = _matmul(x, weight.t())
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        g = g.contiguous()
        gx = _matmul(g, weight) if ctx.needs_input_grad[0] else None
        gw = _matmul(g.t(), x) if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb


class _Conv2d(torch.autograd.Function):
    """A convolution as unfold + one batch-wide GEMM (groups 1, zero padding).

    The unfolded input ``cols`` is (N, C*kh*kw, L) with L = H' * W'; read as the matrix
    (C*kh*kw, N*L) its column j = (sample j // L, position j % L), and the output (N, O, L)
    likewise, so neither is copied into a GEMM layout.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        n, _, h, w = x.shape
        o, c, kh, kw = weight.shape
        x = x.contiguous()
        cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)
        ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        ckk, L = c * kh * kw, ho * wo
        w2 = weight.reshape(o, ckk).contiguous()
        out = torch.empty(n, o, ho, wo)
        _gemm(o, n * L, ckk, w2, _flat(ckk), _flat(1), cols, _flat(L), (L, ckk * L, 1),
              out, _flat(L), (L, o * L, 1))
        ctx.save_for_backward(cols, w2)
        ctx.geometry = (h, w, kh, kw, stride, padding, dilation, bias is not None)
        return out + bias.view(1, o, 1, 1) if bias is not None else out

    @staticmethod
    def backward(ctx, g):
        cols, w2 = ctx.saved_tensors
        h, w, kh, kw, stride, padding, dilation, has_bias = ctx.geometry
        g = g.contiguous()
        n, o, ho, wo = g.shape
        ckk, L = w2.shape[1], ho * wo
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:  # dW (O, CKK) = G (O, N*L) cols^T (N*L, CKK)
            gw = _gemm(o, ckk, n * L, g, _flat(L), (L, o * L, 1), cols, (L, ckk * L, 1), _flat(L),
                       torch.empty(o, ckk), _flat(ckk), _flat(1)).view(o, ckk // (kh * kw), kh, kw)
        if ctx.needs_input_grad[0]:  # dcols (CKK, N*L) = W^T (CKK, O) G (O, N*L), folded back
            gcols = _gemm(ckk, n * L, o, w2, _flat(1), _flat(ckk), g, _flat(L), (L, o * L, 1),
                          torch.empty(n, ckk, L), _flat(L), (L, ckk * L, 1))
            gx = F.fold(gcols, (h, w), (kh, kw), dilation=dilation, padding=padding, stride=stride)
        if has_bias and ctx.needs_input_grad[2]:
            gb = g.sum((0, 2, 3))
        return gx, gw, gb, None, None, None


class FixedConv2d(nn.Conv2d):
    """torchvision's Conv2d, computed by spndl's GEMM on the CPU (``install``)."""

    def _conv_forward(self, input, weight, bias):
        if input.device.type != "cpu":
            return super()._conv_forward(input, weight, bias)
        return _Conv2d.apply(input, weight, bias, self.stride, self.padding, self.dilation)


class FixedLinear(nn.Linear):
    """nn.Linear computed by spndl's GEMM on the CPU (``install``)."""

    def forward(self, input):
        if input.device.type != "cpu" or input.dim() != 2:
            return super().forward(input)
        return _Linear.apply(input, self.weight, self.bias)


_FIXED = {nn.Conv2d: FixedConv2d, nn.Linear: FixedLinear}
_PLAIN = {v: k for k, v in _FIXED.items()}


def install(model: nn.Module) -> str:
    """Compute every convolution and linear layer of ``model`` with spndl's GEMM; returns the
    kernel's name. Only the modules' classes change (see the module's docstring)."""
    name = kernel()
    for m in model.modules():
        if type(m) is nn.Conv2d:
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise KernelError(f"{m}: spndl's GEMM convolution takes groups 1 and numeric zero padding")
        if type(m) in _FIXED:
            m.__class__ = _FIXED[type(m)]
    return name


def uninstall(model: nn.Module) -> None:
    """Back to torch's own operators (for ONNX export)."""
    for m in model.modules():
        if type(m) in _PLAIN:
            m.__class__ = _PLAIN[type(m)]

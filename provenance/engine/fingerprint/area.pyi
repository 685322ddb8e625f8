"""Types of the INTER_AREA shrink extension (``area.c``)."""

from typing_extensions import Buffer

def shrink(
    src: Buffer,
    stride: int,
    x0: int,
    y0: int,
    width: int,
    height: int,
    xi: Buffer,
    xw: Buffer,
    px: int,
    yi: Buffer,
    yw: Buffer,
    py: int,
    out: Buffer,
    ow: int,
    oh: int,
    /,
) -> None: ...
def isa() -> str: ...
def use_scalar(on: bool, /) -> None: ...

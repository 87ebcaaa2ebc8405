"""Schemathesis hooks of scripts/schemathesis (loaded through SCHEMATHESIS_HOOKS).

The document has three string formats of its own: `base64-image` (a PNG or JPEG,
base64-encoded, in JSON bodies), `base64-png` (a PNG, base64-encoded: a watermark) and
`image-file` (an image file, a multipart part). Schemathesis generates them with the
strategies registered here: small real PNGs, all
64x64 pixels (so an image and its mask always have the same size), each with a
transparent black area on the left (what a mask marks: black for Bedrock's masks,
transparent for OpenAI's) and an opaque colour on the right.
"""

import base64
import struct
import zlib

import schemathesis
from hypothesis import strategies as st

SIDE = 64


def png(colour, marked_columns):
    """An RGBA PNG: `marked_columns` transparent black columns, then `colour`."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\x00\x00\x00\x00" * marked_columns
    row += (bytes(colour) + b"\xff") * (SIDE - marked_columns)
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * SIDE))
        + chunk(b"IEND", b"")
    )


pngs = st.builds(png, st.tuples(*[st.integers(128, 255)] * 3), st.integers(1, SIDE - 1))
schemathesis.openapi.format("base64-image", pngs.map(lambda b: base64.b64encode(b).decode()))
schemathesis.openapi.format("base64-png", pngs.map(lambda b: base64.b64encode(b).decode()))
schemathesis.openapi.format("image-file", pngs)

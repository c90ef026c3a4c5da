"""Distinct colours of a PNG (8-bit RGB or RGBA, not interlaced: what Chromium's screenshots
are), decoded with zlib alone, so the browser tests can tell a drawn chart from a blank one."""

import struct
import zlib


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def pixels(png):
    """(width, height, rows): rows is a list of bytes, `channels` bytes per pixel, and the
    channel count; raises ValueError for PNGs this decoder does not handle."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up_left = prev[i - channels] if i >= channels else 0
                line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad filter {kind}")
        rows.append(bytes(line))
        prev = line
    return width, height, rows, channels


def colour_counts(png):
    """{(r, g, b): pixel count} of the image."""
    _, _, rows, channels = pixels(png)
    counts = {}
    for row in rows:
        for i in range(0, len(row), channels):
            rgb = (row[i], row[i + 1], row[i + 2])
            counts[rgb] = counts.get(rgb, 0) + 1
    return counts


def pixels_near(counts, rgb, tolerance=40):
    """How many pixels lie within `tolerance` (per channel) of `rgb`: the chart's line colour
    after anti-aliasing."""
    return sum(n for c, n in counts.items()
               if all(abs(c[k] - rgb[k]) <= tolerance for k in range(3)))

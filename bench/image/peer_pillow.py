#!/usr/bin/python3
"""Pillow peer for the image benchmark: runs one task over files with N threads.

Shrink-on-load via Image.draft() (libjpeg DCT scaling) unless --no-draft; prints
"<file>\t<ms>" per image. Run with Debian's /usr/bin/python3 (python3-pil).
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageDraw, ImageFont, ImageOps

FONT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "easel-image", "assets", "DejaVuSans-Bold.ttf")


def fit_size(w, h, bw, bh):
    s = min(bw / w, bh / h, 1.0)
    return max(1, round(w * s)), max(1, round(h * s))


def oriented(im):
    o = im.getexif().get(0x0112, 1)
    return (im.size[1], im.size[0]) if o in (5, 6, 7, 8) else im.size


def load(path, need, draft):
    im = Image.open(path)
    if draft and im.format == "JPEG":
        w, h = oriented(im)
        swap = (w, h) != im.size
        im.draft("RGB", (need[1], need[0]) if swap else need)
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def watermark(im, text):
    size = max(1, int(0.05 * im.width))
    font = ImageFont.truetype(FONT, size)
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    margin = round(0.02 * im.width)
    box = draw.textbbox((0, 0), text, font=font)
    x = im.width - margin - (box[2] - box[0])
    y = im.height - margin - (box[3] - box[1])
    draw.text((x - box[0], y - box[1]), text, font=font, fill=(255, 255, 255, 128))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def run(task, path, out, draft):
    t0 = time.perf_counter()
    stem = os.path.splitext(os.path.basename(path))[0]
    with Image.open(path) as probe:
        w, h = oriented(probe)
    if task in ("a", "c", "d"):
        box = 1600 if task == "d" else 800
        tw, th = fit_size(w, h, box, box)
        im = load(path, (tw, th), draft)
        if im.size != (tw, th):
            im = im.resize((tw, th), Image.LANCZOS)
        if task == "c":
            im = watermark(im, "\u00a9 Easel")
        im.save(os.path.join(out, stem + ".jpg"), quality=82 if task == "d" else 85)
    else:
        s = max(256 / w, 256 / h)
        need = (max(256, round(w * s)), max(256, round(h * s)))
        im = load(path, need, draft)
        im = ImageOps.fit(im, (256, 256), Image.LANCZOS)
        im.save(os.path.join(out, stem + ".webp"), quality=80)
    return path, (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True, choices="abcd")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-draft", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with ThreadPoolExecutor(a.threads) as pool:
        for path, ms in pool.map(lambda f: run(a.task, f, a.out, not a.no_draft), a.files):
            print(f"{path}\t{ms:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

// A tiny PNG encoder (8-bit RGB, zlib from node:zlib), enough to make real images for
// the fake image server and for test inputs without any image library.

import { deflateSync } from "node:zlib";

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A PNG of `width` × `height` whose pixel (x, y) is `pixel(x, y)` → [r, g, b]. */
export function encodePng(width, height, pixel) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let i = 0;
  for (let y = 0; y < height; y += 1) {
    raw[i++] = 0; // filter: none
    for (let x = 0; x < width; x += 1) {
      const [r, g, b] = pixel(x, y);
      raw[i++] = r;
      raw[i++] = g;
      raw[i++] = b;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A diagonal gradient between two colours with a soft circle: clearly "an image". */
export function gradientPng(width, height, from = [40, 80, 200], to = [250, 170, 60]) {
  const cx = width * 0.62;
  const cy = height * 0.4;
  const r2 = (Math.min(width, height) * 0.22) ** 2;
  return encodePng(width, height, (x, y) => {
    const t = (x / width + y / height) / 2;
    const c = from.map((f, k) => Math.round(f + (to[k] - f) * t));
    const d = (x - cx) ** 2 + (y - cy) ** 2;
    return d < r2 ? c.map((v) => Math.min(255, v + 60)) : c;
  });
}

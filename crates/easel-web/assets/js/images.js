// Image helpers for the browser: loading files and URLs into images, downscaling on a
// canvas (edit inputs are at most 1408 px on the long side), and base64 without the
// `data:` prefix, as generation requests want it.

/** The API's longest side for input images. */
export const MAX_INPUT_SIDE = 1408;

/** Loads an image from a URL (same origin or blob:), decoded and ready to draw. */
export async function loadImage(src) {
  const img = new Image();
  img.decoding = "async";
  img.src = src;
  await img.decode();
  return img;
}

/** Loads an image from a File or Blob. */
export async function imageFromBlob(blob) {
  const url = URL.createObjectURL(blob);
  try {
    return await loadImage(url);
  } finally {
    // The decoded image keeps its pixels; the URL is no longer needed.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}

/** A canvas of `width` × `height` with a 2D context. */
export function makeCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/**
 * Draws `img` on a new canvas no larger than `maxSide` on its long side (never
 * enlarging), keeping the aspect ratio. Sides are whole pixels, at least 1.
 */
export function fitOnCanvas(img, maxSide = MAX_INPUT_SIDE) {
  const w = img.naturalWidth || img.width;
  const h = img.naturalHeight || img.height;
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const canvas = makeCanvas(Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)));
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas;
}

/** The canvas as base64 PNG, without the `data:` prefix. */
export function canvasToBase64(canvas) {
  return canvas.toDataURL("image/png").split(",", 2)[1];
}

/** Base64 of a Blob's bytes (no prefix). */
export async function blobToBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** Any image file as base64 PNG (watermarks need PNG). */
export async function fileToPngBase64(file) {
  const img = await imageFromBlob(file);
  return canvasToBase64(fitOnCanvas(img, 4096));
}

// Edit: an image loaded from a file, a mask painted with mouse movements (and a stroke
// undone), inpainting with the classic engine, and a pixel check that the result
// changed only where the mask was painted; then outpainting to the right by 25 %. A HEIC
// photo, which Chromium cannot draw, gets a preview rendered by Easel.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

import { assertNoHorizontalScroll, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";
import { encodePng } from "../lib/png.mjs";

const W = 320;
const H = 240;
const DISC = { x: 220, y: 120, r: 32 };

// Soft diagonal stripes on a gradient, with a red disc to paint out.
const input = encodePng(W, H, (x, y) => {
  if ((x - DISC.x) ** 2 + (y - DISC.y) ** 2 < DISC.r ** 2) return [220, 30, 30];
  const stripe = Math.floor((x + y) / 16) % 2 ? 30 : 0;
  return [60 + stripe + Math.round((x / W) * 60), 110 + stripe, 150 + Math.round((y / H) * 60)];
});

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

/** Page coordinates of image pixel (x, y) on the mask canvas. */
async function at(canvas, x, y) {
  const box = await canvas.boundingBox();
  return [box.x + (x / W) * box.width, box.y + (y / H) * box.height];
}

async function drag(page, canvas, points) {
  const [x0, y0] = await at(canvas, ...points[0]);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  for (const p of points.slice(1)) {
    const [x, y] = await at(canvas, ...p);
    await page.mouse.move(x, y, { steps: 6 });
  }
  await page.mouse.up();
}

scenario("inpaint a painted mask; only the painted area changes", async () => {
  const page = await openPage(browser);
  await signUp(page, newEmail("edit"));
  await page.getByRole("link", { name: "Edit", exact: true }).click();
  await page.getByRole("heading", { name: "Edit", level: 1 }).waitFor();
  await page.getByTestId("edit-file").setInputFiles({ name: "stripes.png", mimeType: "image/png", buffer: input });
  const canvas = page.getByTestId("mask-canvas");
  await canvas.waitFor();
  await page.getByText("stripes.png: 320 × 240 px").waitFor();

  // A broad brush over the red disc, in a zigzag.
  await page.getByLabel("Brush size").fill("60");
  const { x, y, r } = DISC;
  await drag(page, canvas, [
    [x - r, y - r], [x + r, y - r], [x - r, y - r / 3], [x + r, y - r / 3], [x - r, y + r / 3], [x + r, y + r / 3], [x - r, y + r], [x + r, y + r],
  ]);
  // A stray stroke in the top-left corner, then undone.
  await drag(page, canvas, [[30, 30], [70, 40]]);
  await page.getByRole("button", { name: "Undo" }).click();
  await shot(page, "03-edit-mask-painted");

  await page.getByLabel("Inpaint: replace the painted area").check();
  await page.getByLabel("Engine").selectOption("classic");
  const sent = page.waitForRequest((req) => req.url().includes("/v1/generations") && req.method() === "POST");
  await page.getByRole("button", { name: "Apply edit" }).click();
  const body = JSON.parse((await sent).postData());
  assert.equal(body.taskType, "INPAINTING");
  assert.equal(body.engine, "classic");
  assert.ok(!body.inPaintingParams.image.startsWith("data:"), "base64 without a data: prefix");

  const afterImg = page.getByTestId("after");
  await afterImg.waitFor({ timeout: 60_000 });
  await page.getByTestId("edit-status").filter({ hasText: /^Done/ }).waitFor();

  const stats = await page.evaluate(async ({ image, mask, afterUrl, disc }) => {
    const pixels = async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      return { w: c.width, h: c.height, data: ctx.getImageData(0, 0, c.width, c.height).data };
    };
    const [a, m, b] = await Promise.all([
      pixels(`data:image/png;base64,${image}`),
      pixels(`data:image/png;base64,${mask}`),
      pixels(afterUrl),
    ]);
    const s = { size: [b.w, b.h], masked: 0, maskedDiff: 0, redLeft: 0, outside: 0, outsideChanged: 0, outsideMax: 0 };
    const blackAt = (x, y) => m.data[(y * m.w + x) * 4] < 128;
    s.maskAtDisc = blackAt(disc.x, disc.y);
    s.maskAtUndone = blackAt(50, 35);
    s.maskAtCorner = blackAt(5, 5);
    for (let i = 0; i < a.data.length; i += 4) {
      const diff = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
      if (m.data[i] < 128) {
        s.masked += 1;
        s.maskedDiff += diff;
        if (b.data[i] > 180 && b.data[i + 1] < 80 && b.data[i + 2] < 80) s.redLeft += 1;
      } else {
        s.outside += 1;
        if (diff > 2) s.outsideChanged += 1;
        s.outsideMax = Math.max(s.outsideMax, diff);
      }
    }
    s.maskedDiff /= Math.max(1, s.masked);
    return s;
  }, { image: body.inPaintingParams.image, mask: body.inPaintingParams.maskImage, afterUrl: await afterImg.getAttribute("src"), disc: DISC });

  assert.deepEqual(stats.size, [W, H]);
  assert.ok(stats.maskAtDisc, "the painted disc is in the mask");
  assert.ok(!stats.maskAtUndone, "the undone stroke is not in the mask");
  assert.ok(!stats.maskAtCorner, "unpainted corners are not in the mask");
  assert.ok(stats.masked > Math.PI * DISC.r * DISC.r, `the mask covers the disc (${stats.masked} px)`);
  assert.equal(stats.outsideChanged, 0, `pixels outside the mask changed (max diff ${stats.outsideMax})`);
  assert.ok(stats.maskedDiff > 20, `the painted area changed (mean diff ${stats.maskedDiff.toFixed(1)})`);
  assert.ok(stats.redLeft < stats.masked * 0.02, `the red disc is gone (${stats.redLeft} red px left)`);
  await afterImg.scrollIntoViewIfNeeded();
  await shot(page, "03-edit-before-after");

  // Outpaint to the right by 25 %: the canvas grows to 400 × 240.
  await page.getByLabel("Outpaint: extend the picture").check();
  await page.getByLabel("Direction").selectOption("right");
  await page.getByLabel("Extent (% of the image)").fill("25");
  await page.getByRole("button", { name: "Clear mask" }).click();
  // Outpainting needs a prompt (the API says so next to the field when it is missing).
  await page.getByLabel("Prompt", { exact: true }).fill("");
  await page.getByRole("button", { name: "Apply edit" }).click();
  const prompt = page.getByLabel("Prompt", { exact: true });
  await page.locator(`#${await prompt.getAttribute("id")}-error`).filter({ hasText: /text/ }).waitFor();
  await prompt.fill("more stripes");
  const sentOut = page.waitForRequest((req) => req.url().includes("/v1/generations") && req.method() === "POST");
  await page.getByRole("button", { name: "Apply edit" }).click();
  const outBody = JSON.parse((await sentOut).postData());
  assert.equal(outBody.taskType, "OUTPAINTING");
  await page.getByTestId("edit-status").filter({ hasText: /^Done/ }).waitFor({ timeout: 60_000 });
  const grown = page.getByTestId("after");
  await grown.evaluate((el) => el.decode());
  assert.deepEqual(await grown.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [400, 240]);
  await page.getByLabel("Show side by side").check();
  await shot(page, "03-edit-outpaint");
  await page.setViewportSize({ width: 375, height: 800 });
  await assertNoHorizontalScroll(page);
  await shot(page, "03-edit-375");
  page.assertClean([/status of 400/]);
});

scenario("a HEIC photo the browser cannot draw is previewed through Easel", async () => {
  // The stripes, encoded as HEIC by libheif's heif-enc (scripts/install-deps).
  const dir = mkdtempSync(join(tmpdir(), "easel-edit-heic-"));
  writeFileSync(join(dir, "stripes.png"), input);
  execFileSync("heif-enc", ["-q", "80", "-o", join(dir, "IMG_0002.HEIC"), join(dir, "stripes.png")]);
  const page = await openPage(browser);
  await signUp(page, newEmail("edit-heic"));
  await page.getByRole("link", { name: "Edit", exact: true }).click();
  await page.getByRole("heading", { name: "Edit", level: 1 }).waitFor();
  await page.getByTestId("edit-file").setInputFiles({
    name: "IMG_0002.HEIC",
    mimeType: "image/heic",
    buffer: readFileSync(join(dir, "IMG_0002.HEIC")),
  });
  await page.getByText("IMG_0002.HEIC (preview rendered by Easel): 320 × 240 px").waitFor({ timeout: 60_000 });
  // The preview is the photo: the red disc is where it was.
  const pixel = await page.getByTestId("mask-canvas").evaluate((_, { x, y }) => {
    const base = document.querySelector("canvas.layer.base");
    return Array.from(base.getContext("2d").getImageData(x, y, 1, 1).data.slice(0, 3));
  }, DISC);
  assert.ok(pixel[0] > 150 && pixel[1] < 100, `the disc is red in the preview (${pixel})`);
  page.assertClean();
});

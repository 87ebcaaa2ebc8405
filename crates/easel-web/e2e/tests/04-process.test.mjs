// Process: three real photos dropped onto the page, the `thumbnail` preset, per-file
// upload progress, the job followed live, the results gallery (real WebP outputs);
// then one photo through a built pipeline (fill-resize, text watermark, JPEG q70); an
// iPhone HEIC photo (the page goes by its extension);
// then a real detection model through a built pipeline: boxes over the output, labels
// and confidences listed, the same in history.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before } from "node:test";

import { apiCall, apiToken, assertNoHorizontalScroll, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

/** The `count` smallest JPEGs of the photo directory (real photos, quick to process). */
function photos(count) {
  const dir = process.env.E2E_PHOTOS;
  return readdirSync(dir)
    .filter((f) => /\.jpe?g$/i.test(f))
    .map((f) => ({ path: join(dir, f), size: statSync(join(dir, f)).size }))
    .filter((p) => p.size > 100_000)
    .sort((a, b) => a.size - b.size)
    .slice(0, count);
}

/**
 * Drops files onto `selector` the way a browser does: a `drop` with a DataTransfer.
 * `type` is the MIME type the browser reports ("" for a type it does not know).
 */
async function dropFiles(page, selector, files, type = "image/jpeg") {
  const payload = files.map((f) => ({ name: basename(f.path), data: readFileSync(f.path).toString("base64"), type }));
  const transfer = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const item of items) {
      const bytes = Uint8Array.from(atob(item.data), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], item.name, { type: item.type }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent(selector, "dragenter", { dataTransfer: transfer });
  await page.dispatchEvent(selector, "drop", { dataTransfer: transfer });
}

scenario("three photos with a preset, then a built pipeline", async () => {
  const chosen = photos(3);
  assert.equal(chosen.length, 3, "three photos in E2E_PHOTOS");
  const page = await openPage(browser);
  const email = newEmail("process");
  await signUp(page, email);
  await page.getByRole("link", { name: "Process", exact: true }).click();
  await page.getByRole("heading", { name: "Process images", level: 1 }).waitFor();

  await dropFiles(page, "[data-testid=dropzone]", chosen);
  const items = page.locator(".file-list li");
  assert.equal(await items.count(), 3);
  await page.getByLabel("Preset", { exact: true }).selectOption("thumbnail");
  await page.getByRole("button", { name: "Upload and process" }).click();

  // Every file's own bar reaches 100 %, then the job finishes.
  const status = page.getByTestId("job-status");
  await status.filter({ hasText: /Done: 3 images processed/ }).waitFor({ timeout: 60_000 });
  for (const bar of await page.locator(".file-list progress").all()) {
    assert.equal(await bar.evaluate((p) => p.value), 100);
  }
  const results = page.getByTestId("results").locator("figure.result");
  assert.equal(await results.count(), 3);
  for (const img of await results.locator("img").all()) {
    await img.evaluate((el) => el.decode());
    const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
    assert.deepEqual(size, [256, 256]);
  }
  const href = await results.first().getByRole("link", { name: /^Download / }).getAttribute("href");
  const download = await fetch(new URL(href, page.url()));
  assert.equal(download.headers.get("content-type"), "image/webp");
  assert.ok(await results.first().getByRole("link", { name: "24 h link" }).getAttribute("href"));
  await shot(page, "04-process-preset-results");

  // A pipeline: fill 300×200, a text watermark, JPEG quality 70; one photo.
  await page.getByRole("button", { name: "Clear the list" }).click();
  assert.equal(await items.count(), 0);
  await dropFiles(page, "[data-testid=dropzone]", chosen.slice(0, 1));
  await page.getByLabel("Build a pipeline").check();
  await page.getByLabel("Step to add").selectOption("resize");
  await page.getByRole("button", { name: "Add step" }).click();
  const resize = page.locator(".step").nth(0);
  await resize.getByLabel("Width (px)").fill("300");
  await resize.getByLabel("Height (px)").fill("200");
  await resize.getByLabel("Mode").selectOption("fill");
  await page.getByLabel("Step to add").selectOption("watermark_text");
  await page.getByRole("button", { name: "Add step" }).click();
  await page.locator(".step").nth(1).getByLabel("Text").fill("© e2e");
  await page.getByLabel("Output format").selectOption("jpeg");
  await page.getByLabel("Quality (1–100, JPEG and WebP)").fill("70");
  await page.getByRole("button", { name: "Upload and process" }).click();
  await status.filter({ hasText: /Done: 1 image processed/ }).waitFor({ timeout: 60_000 });
  const one = page.getByTestId("results").locator("figure.result img");
  await one.evaluate((el) => el.decode());
  assert.deepEqual(await one.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [300, 200]);
  assert.match(await page.getByTestId("results").textContent(), /300×200 JPE?G/);
  await shot(page, "04-process-pipeline-result");

  // Both jobs are the caller's, with their outputs.
  const token = await apiToken(email);
  const { body } = await apiCall(token, "GET", "/v1/jobs?limit=10");
  const process = body.jobs.filter((j) => j.kind === "process");
  assert.equal(process.length, 2);
  assert.equal(process[1].preset, "thumbnail");

  // The same page on a phone.
  await page.setViewportSize({ width: 375, height: 800 });
  await assertNoHorizontalScroll(page);
  await shot(page, "04-process-375");
  page.assertClean();
});

scenario("an iPhone's HEIC photo is uploaded and processed", async () => {
  // A real photo re-encoded as HEIC by libheif's heif-enc (scripts/install-deps).
  const dir = mkdtempSync(join(tmpdir(), "easel-heic-"));
  const heic = join(dir, "IMG_0001.HEIC");
  execFileSync("heif-enc", ["-q", "60", "-o", heic, photos(1)[0].path]);
  const page = await openPage(browser);
  await signUp(page, newEmail("heic"));
  await page.getByRole("link", { name: "Process", exact: true }).click();
  await page.getByRole("heading", { name: "Process images", level: 1 }).waitFor();
  // Chromium on Linux reports no type for .HEIC: the page goes by the extension.
  await dropFiles(page, "[data-testid=dropzone]", [{ path: heic }], "");
  const items = page.locator(".file-list li");
  assert.match(await items.first().textContent(), /Ready/);
  await page.getByLabel("Preset", { exact: true }).selectOption("thumbnail");
  await page.getByRole("button", { name: "Upload and process" }).click();
  await page.getByTestId("job-status").filter({ hasText: /Done: 1 image processed/ }).waitFor({ timeout: 60_000 });
  const img = page.getByTestId("results").locator("figure.result img");
  await img.evaluate((el) => el.decode());
  assert.deepEqual(await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [256, 256]);
  page.assertClean();
});

scenario("a real detector's boxes are drawn over the result and listed, and survive in history", async () => {
  // scikit-image's astronaut photo and nudenet's YOLOv8 detector (both from PyPI, set
  // up by scripts/detect-fixtures; run.mjs registers the model as `nudenet`).
  const astronaut = { path: join(process.env.E2E_DETECT, "astronaut.png") };
  const page = await openPage(browser);
  await signUp(page, newEmail("detect"));
  await page.getByRole("link", { name: "Process", exact: true }).click();
  await page.getByRole("heading", { name: "Process images", level: 1 }).waitFor();
  await dropFiles(page, "[data-testid=dropzone]", [astronaut], "image/png");
  await page.getByLabel("Build a pipeline").check();
  await page.getByLabel("Step to add").selectOption("detect");
  await page.getByRole("button", { name: "Add step" }).click();
  const detect = page.locator(".step").nth(0);
  await detect.getByLabel("Model (empty: the default)").fill("nudenet");
  await detect.getByLabel(/Only these classes/).fill("FACE_FEMALE, ARMPITS_EXPOSED");
  await detect.getByLabel("Lowest confidence (%)").fill("30");
  // Half size: the boxes must follow the resize to sit over the face.
  await page.getByLabel("Step to add").selectOption("resize");
  await page.getByRole("button", { name: "Add step" }).click();
  const resize = page.locator(".step").nth(1);
  await resize.getByLabel("Width (px)").fill("256");
  await resize.getByLabel("Height (px)").fill("256");
  await page.getByLabel("Output format").selectOption("png");
  await page.getByRole("button", { name: "Upload and process" }).click();
  await page.getByTestId("job-status").filter({ hasText: /Done: 1 image processed/ }).waitFor({ timeout: 60_000 });

  const preview = page.getByTestId("results").locator(".preview.has-detections");
  await preview.waitFor();
  const list = preview.getByRole("list", { name: "Detected objects" });
  const labels = await list.locator("li").allTextContents();
  assert.ok(labels.some((l) => /^FACE_FEMALE \d+%$/.test(l)), `listed: ${labels}`);
  assert.ok(labels.every((l) => /^(FACE_FEMALE|ARMPITS_EXPOSED) \d+%/.test(l)), `class filter: ${labels}`);
  assert.equal(await preview.locator("rect").count(), labels.length);
  // The face's box over the 256-px output: nudenet puts the face at about
  // (173, 82)-(275, 180) of the 512-px photo, so (86, 41)-(137, 90) here.
  const face = preview.locator(".detection", { hasText: "FACE_FEMALE" }).locator("rect");
  const [img, rect] = await Promise.all([preview.locator("img").boundingBox(), face.boundingBox()]);
  const scale = img.width / 256;
  assert.ok(Math.abs(rect.x - (img.x + 86 * scale)) < 8 * scale, `face box at x ${rect.x}, image at ${img.x}`);
  assert.ok(Math.abs(rect.y - (img.y + 41 * scale)) < 8 * scale, `face box at y ${rect.y}, image at ${img.y}`);
  assert.ok(Math.abs(rect.width - 51 * scale) < 10 * scale, `face box ${rect.width} wide`);
  await shot(page, "04-detections");

  // The job in history shows the same boxes.
  await page.getByRole("link", { name: "History", exact: true }).click();
  await page.getByRole("button", { name: "Open" }).first().click();
  const again = page.getByRole("dialog").locator(".preview.has-detections");
  await again.waitFor();
  assert.equal(await again.locator("rect").count(), labels.length);
  page.assertClean();
});

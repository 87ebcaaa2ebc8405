// Process: three real photos dropped onto the page, the `thumbnail` preset, per-file
// upload progress, the job followed live, the results gallery (real WebP outputs);
// then one photo through a built pipeline (fill-resize, text watermark, JPEG q70); an
// iPhone HEIC photo (the page goes by its extension);
// then detection boxes drawn over a result when a job carries detections.

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

scenario("detection boxes are drawn over a result that has detections", async () => {
  const page = await openPage(browser);
  const email = newEmail("detect");
  await signUp(page, email);
  const token = await apiToken(email);
  // One processed photo through the API (the processing pipeline reports no detections
  // yet, so the job listing is given some on its way to the page).
  const [photo] = photos(1);
  const upload = await apiCall(token, "POST", "/v1/uploads", { filename: "photo.jpg", contentType: "image/jpeg" });
  const put = await fetch(upload.body.url, { method: "PUT", headers: { "content-type": "image/jpeg" }, body: readFileSync(photo.path) });
  assert.equal(put.status, 200);
  const job = await apiCall(token, "POST", "/v1/jobs", { sources: [{ bucket: "uploads", key: upload.body.key }], preset: "thumbnail" });
  assert.equal(job.status, 202);
  for (let i = 0; i < 100; i += 1) {
    const { body } = await apiCall(token, "GET", `/v1/jobs/${job.body.jobId}`);
    if (body.status === "COMPLETED") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.route(/\/v1\/jobs\?/, async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    for (const j of body.jobs) {
      for (const r of j.results) {
        r.detections = [
          { label: "person", confidence: 0.91, bbox: [30, 40, 150, 230] },
          { label: "dog", confidence: 0.77, bbox: [160, 120, 250, 250] },
        ];
      }
    }
    await route.fulfill({ response, json: body });
  });
  await page.getByRole("link", { name: "History", exact: true }).click();
  await page.getByRole("button", { name: "Open" }).first().click();
  const preview = page.getByRole("dialog").locator(".preview.has-detections");
  await preview.waitFor();
  assert.equal(await preview.locator("rect").count(), 2);
  assert.match(await preview.textContent(), /person 91%.*dog 77%/);
  // The boxes sit over the image: the first box's left edge at 30/256 of its width.
  const [img, rect] = await Promise.all([preview.locator("img").boundingBox(), preview.locator("rect").first().boundingBox()]);
  assert.ok(Math.abs(rect.x - (img.x + (img.width * 30) / 256)) < 3, `box at ${rect.x}, image at ${img.x}`);
  await shot(page, "04-detections");
  page.assertClean();
});

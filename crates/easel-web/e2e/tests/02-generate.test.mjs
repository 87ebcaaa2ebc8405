// Generate: only text-to-image engines are offered; a too-long prompt and a filtered
// word are refused next to the prompt; a generation with every option (style, 512,
// PNG, fixed seed, cfg, two images, the openai engine against the fake server, whose
// received request is checked) shows live progress, the seed used, and downloads a real
// 512×512 PNG; the 1 h and 24 h links work; "regenerate" gets a new seed; "variation"
// makes a variation. Also the page at 375 px in the dark theme.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before } from "node:test";

import { apiToken, assertNoHorizontalScroll, fakeOpenAiRequests, launch, newEmail, openPage, scenario, shot, signUp, textEngines } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

function pngSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG");
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

scenario("generate with every option, download, regenerate, variation", async (t) => {
  const page = await openPage(browser);
  const email = newEmail("generate");
  await signUp(page, email);
  const engines = await textEngines(await apiToken(email));
  if (!engines.includes("openai")) {
    t.skip(`no openai text-to-image engine in this build (engines: ${engines.join(", ") || "none"})`);
    return;
  }
  await page.getByRole("link", { name: "Generate", exact: true }).click();
  await page.getByRole("heading", { name: "Generate", level: 1 }).waitFor();
  const engine = page.getByLabel("Engine");
  await engine.locator("option[value=openai]").waitFor({ state: "attached" });
  const offered = await engine.locator("option").evaluateAll((os) => os.map((o) => o.value));
  assert.ok(!offered.includes("classic"), `classic cannot make images from text: ${offered}`);

  // Refusals land next to the prompt.
  const prompt = page.getByLabel("Prompt", { exact: true });
  const promptError = page.locator(`#${await prompt.getAttribute("id")}-error`);
  await prompt.fill("a lighthouse ".repeat(45));
  await page.getByRole("button", { name: "Generate", exact: true }).click();
  await promptError.filter({ hasText: /512/ }).waitFor();
  assert.equal(await prompt.getAttribute("aria-invalid"), "true");
  await shot(page, "02-generate-prompt-too-long");
  await prompt.fill("a forbiddenword lighthouse");
  await page.getByRole("button", { name: "Generate", exact: true }).click();
  await promptError.filter({ hasText: /content filter/ }).waitFor();

  // Every option.
  await prompt.fill("a lighthouse at dawn");
  await page.getByLabel("Negative prompt").fill("people");
  await page.getByLabel("Style").selectOption("watercolor");
  await page.getByLabel("Size").selectOption("512");
  await page.getByLabel("Format").selectOption("png");
  await page.getByLabel("Quality", { exact: true }).selectOption("standard");
  await page.getByLabel("Random seed").uncheck();
  await page.getByLabel("Seed", { exact: true }).fill("4242");
  await page.getByLabel("Prompt strength (cfg scale)").fill("6.5");
  await page.getByLabel("Number of images").fill("2");
  await engine.selectOption("openai");
  await page.getByRole("button", { name: "Generate", exact: true }).click();
  const status = page.getByTestId("generation-status");
  await status.filter({ hasText: "Done: 2 images." }).waitFor({ timeout: 60_000 });
  assert.equal(await page.getByTestId("used-seed").textContent(), "4242");
  const figures = page.getByTestId("results").locator("figure.result");
  assert.equal(await figures.count(), 2);

  // What the fake OpenAI server was sent.
  const calls = (await fakeOpenAiRequests()).filter((r) => r.path === "/v1/images/generations");
  const call = calls.at(-1);
  assert.deepEqual(call.problems, []);
  assert.equal(call.authorization, "Bearer <key>");
  assert.equal(call.body.model, "e2e-image-model");
  assert.equal(call.body.size, "512x512");
  assert.equal(calls.slice(-2).reduce((n, c) => n + c.body.n, 0) >= 2, true);
  assert.match(call.body.prompt, /a lighthouse at dawn, watercolor painting/);
  assert.match(call.body.prompt, /people/);

  // Download: a real 512×512 PNG.
  const [download] = await Promise.all([page.waitForEvent("download"), figures.first().getByRole("link", { name: /^Download / }).click()]);
  assert.match(download.suggestedFilename(), /^img-.*\.png$/);
  assert.deepEqual(pngSize(await readFile(await download.path())), [512, 512]);
  for (const name of ["1 h link", "24 h link"]) {
    const href = await figures.first().getByRole("link", { name }).getAttribute("href");
    const response = await fetch(new URL(href, page.url()));
    assert.equal(response.status, 200, name);
    assert.equal(response.headers.get("content-type"), "image/png");
  }
  await shot(page, "02-generate-results");

  // Regenerate: a new random seed.
  await page.getByRole("button", { name: "Regenerate" }).click();
  await status.filter({ hasText: "Sending…" }).or(status.filter({ hasText: /Queued|Working/ })).first().waitFor();
  await status.filter({ hasText: "Done: 2 images." }).waitFor({ timeout: 60_000 });
  await page.getByTestId("used-seed").filter({ hasNotText: "4242" }).waitFor();

  // Variation of the first image, when an engine can make variations.
  const variation = figures.first().getByRole("button", { name: "Variation" });
  if (await variation.isEnabled()) {
    await variation.click();
    await status.filter({ hasText: "Done: 1 image." }).waitFor({ timeout: 60_000 });
    const vary = (await fakeOpenAiRequests()).filter((r) => r.path === "/v1/images/variations");
    assert.ok(vary.length >= 1, "the fake server got a variation request");
    assert.deepEqual(vary.at(-1).problems, []);
  }
  await shot(page, "02-generate-after-variation");
  page.assertClean([/status of 400/]);
});

scenario("generate page at 375 px, dark", async () => {
  const page = await openPage(browser, { width: 375, height: 800, colorScheme: "dark" });
  await signUp(page, newEmail("generate-mobile"));
  await page.goto(page.url().replace(/#.*$/, "#/generate"));
  await page.getByRole("heading", { name: "Generate", level: 1 }).waitFor();
  await page.getByLabel("Engine").locator("option").first().waitFor({ state: "attached" });
  await assertNoHorizontalScroll(page);
  await shot(page, "02-generate-375-dark");
  page.assertClean();
});

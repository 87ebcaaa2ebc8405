// Quota: a user moved to the `tiny` plan (one generation and one edit a day, set with
// `easel user set-plan`) makes one generation, then the second is refused with a clear
// message and the reset time; the dashboard shows none left. Without a text-to-image
// engine in the build, the same is done with an edit (the `edit` class).

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { apiToken, easel, launch, newEmail, openPage, scenario, shot, signUp, textEngines } from "../lib/harness.mjs";
import { encodePng } from "../lib/png.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("a used-up quota is explained, and the dashboard shows it", async () => {
  const page = await openPage(browser);
  const email = newEmail("quota");
  await signUp(page, email);
  await easel("user", "set-plan", email, "tiny");
  const canGenerate = (await textEngines(await apiToken(email))).includes("openai");

  let submit;
  let status;
  let cls;
  if (canGenerate) {
    cls = "generate";
    await page.getByRole("link", { name: "Generate", exact: true }).click();
    await page.getByLabel("Engine").locator("option[value=openai]").waitFor({ state: "attached" });
    await page.getByLabel("Prompt", { exact: true }).fill("a red bicycle");
    await page.getByLabel("Size").selectOption("512");
    submit = page.getByRole("button", { name: "Generate", exact: true });
    status = page.getByTestId("generation-status");
  } else {
    cls = "edit";
    await page.getByRole("link", { name: "Edit", exact: true }).click();
    const png = encodePng(128, 96, (x, y) => [x * 2, y * 2, 120]);
    await page.getByTestId("edit-file").setInputFiles({ name: "small.png", mimeType: "image/png", buffer: png });
    const canvas = page.getByTestId("mask-canvas");
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 5 });
    await page.mouse.up();
    submit = page.getByRole("button", { name: "Apply edit" });
    status = page.getByTestId("edit-status");
  }
  await submit.click();
  await status.filter({ hasText: /^Done/ }).waitFor({ timeout: 60_000 });
  await submit.click();
  const message = page.getByRole("alert").filter({ hasText: new RegExp(`You have used up your ${cls} quota \\(1 per day\\)\\. It resets in \\d`) });
  await message.waitFor();
  await shot(page, "06-quota-exceeded");

  await page.getByRole("link", { name: "Dashboard", exact: true }).click();
  const quota = page.locator(`[data-quota=${cls}]`);
  await quota.getByText("0 of 1 left today").waitFor();
  assert.equal(await quota.locator("meter").evaluate((m) => m.value), 0);
  await page.getByRole("img", { name: /Bar chart of the last 7 days: [1-9]\d* operations/ }).waitFor();
  await shot(page, "06-quota-dashboard");
  page.assertClean([/status of 429/]);
});

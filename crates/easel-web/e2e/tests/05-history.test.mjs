// History: thirteen edits made through the API (the classic engine, small images) show
// as a grid a page of twelve at a time; "Load more" brings the thirteenth; one entry is
// opened, then deleted after a confirmation, and is gone for the API too.

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { apiCall, apiToken, assertNoHorizontalScroll, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";
import { encodePng } from "../lib/png.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

function edit(i) {
  const image = encodePng(96, 96, (x, y) => [(x * 2 + i * 20) % 256, (y * 2) % 256, (i * 37) % 256]).toString("base64");
  const mask = encodePng(96, 96, (x, y) => (x > 30 && x < 60 && y > 30 && y < 60 ? [0, 0, 0] : [255, 255, 255])).toString("base64");
  return {
    taskType: "INPAINTING",
    inPaintingParams: { image, maskImage: mask, text: `history entry ${i}` },
    engine: "classic",
  };
}

scenario("history grid, paging, open and delete", async () => {
  const page = await openPage(browser);
  const email = newEmail("history");
  await signUp(page, email);
  const token = await apiToken(email);
  const ids = [];
  for (let i = 0; i < 13; i += 1) {
    const created = await apiCall(token, "POST", "/v1/generations?wait=30", edit(i));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    ids.push(created.body.id);
  }

  await page.getByRole("link", { name: "History", exact: true }).click();
  await page.getByRole("heading", { name: "History", level: 1 }).waitFor();
  const cards = page.getByTestId("history").locator(".history-card");
  await cards.first().waitFor();
  assert.equal(await cards.count(), 12);
  assert.match(await cards.first().textContent(), /history entry 12/);
  assert.match(await cards.first().textContent(), /expires in (29|30) days/);
  await shot(page, "05-history-grid");
  await page.getByRole("button", { name: "Load more" }).click();
  await cards.nth(12).waitFor();
  assert.equal(await cards.count(), 13);
  assert.ok(await page.getByRole("button", { name: "Load more" }).isHidden());

  // Open the newest entry: its image, links and parameters.
  const newest = cards.first();
  await newest.getByRole("button", { name: "Open" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("link", { name: "24 h link" }).waitFor();
  assert.match(await dialog.textContent(), /INPAINTING/);
  await shot(page, "05-history-open");
  await dialog.getByRole("button", { name: "Close" }).click();

  // Delete it.
  await newest.getByRole("button", { name: /^Delete / }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await page.locator(`[data-id="${ids[12]}"]`).waitFor({ state: "detached" });
  assert.equal(await cards.count(), 12);
  const gone = await apiCall(token, "GET", `/v1/history/${ids[12]}`);
  assert.equal(gone.status, 404);
  await page.reload();
  await cards.first().waitFor();
  assert.match(await cards.first().textContent(), /history entry 11/);
  await shot(page, "05-history-after-delete");

  // Regenerate the newest: a new entry (same prompt, new id) comes first.
  await cards.first().getByRole("button", { name: "Regenerate" }).click();
  await page.waitForFunction((old) => {
    const id = document.querySelector(".history-card")?.dataset.id;
    return id && id !== old;
  }, ids[11], { timeout: 30_000 });
  const fresh = await cards.first().getAttribute("data-id");
  assert.ok(!ids.includes(fresh), "the first card is a new entry");
  assert.match(await cards.first().textContent(), /history entry 11/);

  // Edit an image from history: the edit page opens with it loaded.
  await cards.first().getByRole("link", { name: "Edit" }).click();
  await page.getByRole("heading", { name: "Edit", level: 1 }).waitFor();
  await page.getByText(/^img-.*\.png: 96 × 96 px$/).waitFor();
  await page.getByTestId("mask-canvas").waitFor();
  await page.goBack();
  await cards.first().waitFor();
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 375, height: 800 });
  await assertNoHorizontalScroll(page);
  await shot(page, "05-history-375-dark");
  page.assertClean();
});

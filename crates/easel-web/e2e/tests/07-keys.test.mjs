// API keys: a bad name is refused next to the field; a created key is shown once, the
// copy button puts it on the clipboard, it works against the API; revoked, it no
// longer does.

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { apiCall, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("create, copy, use and revoke an API key", async () => {
  const page = await openPage(browser, { permissions: ["clipboard-read", "clipboard-write"] });
  await signUp(page, newEmail("keys"));
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();
  await page.getByText("No keys yet.").waitFor();

  // A blank name: the API's invalid-key-name shows next to the field.
  const name = page.getByLabel("Key name");
  await name.fill("   ");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.locator(`#${await name.getAttribute("id")}-error`).filter({ hasText: /key name/i }).waitFor();
  assert.equal(await name.getAttribute("aria-invalid"), "true");

  await name.fill("e2e script");
  await page.getByRole("button", { name: "Create key" }).click();
  const shown = page.getByTestId("new-key");
  await shown.waitFor();
  const key = await shown.inputValue();
  assert.match(key, /^ek_[0-9a-f]{16}_[0-9a-f]{48}$/);
  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByText("Copied to the clipboard.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
  const row = page.locator("tr", { hasText: "e2e script" });
  await row.getByText("Active").waitFor();
  await shot(page, "07-key-created");

  // The key works.
  const me = await apiCall({ key }, "GET", "/v1/me");
  assert.equal(me.status, 200);
  assert.equal(me.body.authenticatedWith, "api-key");

  // Revoke, after confirming.
  await row.getByRole("button", { name: "Revoke key e2e script" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
  await row.getByText(/Revoked/).waitFor();
  await shot(page, "07-key-revoked");
  const refused = await apiCall({ key }, "GET", "/v1/me");
  assert.equal(refused.status, 401);
  page.assertClean([/status of 400/]);
});

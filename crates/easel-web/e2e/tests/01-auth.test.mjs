// Sign up and sign in: field errors on sign-up, wrong credentials, the session kept
// across a reload (refresh token), sign-out, the lockout message and its countdown; the
// dashboard at 375 px in the dark theme.

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { BASE, PASSWORD, assertNoHorizontalScroll, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("sign up, sign out, wrong password, sign in, reload, lockout", async () => {
  const page = await openPage(browser);
  const email = newEmail("auth");

  // Sign-up errors appear next to their fields.
  await page.goto(`${BASE}/#/signup`);
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  const emailInput = page.getByLabel("Email");
  await page.locator(`#${await emailInput.getAttribute("id")}-error`).waitFor();
  assert.equal(await emailInput.getAttribute("aria-invalid"), "true");
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Create account" }).click();
  const password = page.getByLabel("Password", { exact: true });
  const passwordError = page.locator(`#${await password.getAttribute("id")}-error`);
  await passwordError.waitFor();
  assert.match(await passwordError.textContent(), /password/i);
  await shot(page, "01-signup-field-error");

  await password.fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  assert.equal(await page.getByTestId("plan-name").textContent(), "default");
  assert.ok(await page.evaluate(() => localStorage.getItem("easel.refreshToken")), "the refresh token is kept");

  // A reload has no access token in memory: the refresh token gets a new one.
  await page.reload();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await page.getByTestId("plan-name").waitFor();
  await shot(page, "01-dashboard");

  // Sign out, then a wrong password.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in to Easel" }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem("easel.refreshToken")), null);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill("Wrong-password1!");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "Incorrect email or password." });
  await alert.waitFor();
  await shot(page, "01-signin-wrong-password");

  // Right password, by keyboard only: Tab from the email to the password, Enter.
  await page.getByLabel("Email").focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.type), "password");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  // The page heading takes the focus after a navigation, for screen readers.
  assert.equal(await page.evaluate(() => document.activeElement.tagName), "H1");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in to Easel" }).waitFor();

  // Five failures lock the name; the next try says so and counts down.
  for (let i = 0; i < 5; i += 1) {
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password", { exact: true }).fill(`Wrong-password${i}!`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Incorrect email or password." }).waitFor();
  }
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  const locked = page.getByRole("alert").filter({ hasText: /locked for now\. Try again in \d+ s/ });
  await locked.waitFor();
  assert.ok(await page.getByRole("button", { name: "Sign in" }).isDisabled(), "the button waits out the lock");
  await shot(page, "01-signin-locked");
  await page.getByRole("alert").filter({ hasText: "You can try to sign in again now." }).waitFor({ timeout: 10_000 });
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  page.assertClean([/status of 40[01]/, /status of 429/]);
});

scenario("dashboard at 375 px, dark", async () => {
  const page = await openPage(browser, { width: 375, height: 800, colorScheme: "dark" });
  await signUp(page, newEmail("mobile"));
  await page.getByTestId("plan-name").waitFor();
  await page.locator(".bars").waitFor();
  await assertNoHorizontalScroll(page);
  // The navigation folds into a menu button.
  const menu = page.getByRole("button", { name: "Menu" });
  assert.equal(await menu.getAttribute("aria-expanded"), "false");
  await shot(page, "01-dashboard-375-dark");
  await menu.click();
  assert.equal(await menu.getAttribute("aria-expanded"), "true");
  await page.getByRole("link", { name: "API keys" }).waitFor();
  await shot(page, "01-menu-375-dark");
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();
  await assertNoHorizontalScroll(page);
  page.assertClean();
});

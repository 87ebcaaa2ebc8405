// Account e-mail in the browser, with the real SMTP server: sign up (the page solves the
// proof-of-work in a worker and sends its solution), the dashboard asks for the address
// to be verified, the code from the e-mail verifies it, notifications are chosen on the
// Account page and kept; then a forgotten password is reset with the mailed code and the
// new password signs in.

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { BASE, PASSWORD, codeIn, launch, mailTo, newEmail, openPage, scenario, shot } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("sign up with the proof-of-work, verify the address, choose notifications, reset the password", async () => {
  const page = await openPage(browser);
  const email = newEmail("account");

  // Sign-up: the request carries a solved challenge the server accepted.
  await page.goto(`${BASE}/#/signup`);
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  const signUpRequest = page.waitForRequest((r) => r.url().endsWith("/v1/auth/sign-up"));
  await page.getByRole("button", { name: "Create account" }).click();
  const sent = JSON.parse((await signUpRequest).postData());
  const solution = JSON.parse(Buffer.from(sent.altcha, "base64").toString());
  assert.equal(solution.algorithm, "SHA-256");
  assert.ok(Number.isInteger(solution.number), "the worker found the number");
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();

  // Not verified yet: the dashboard says so and links to the code form.
  const banner = page.getByTestId("verify-banner");
  await banner.waitFor();
  await shot(page, "10-dashboard-unverified");
  const code = codeIn(await mailTo(email, "Verify your e-mail address"));
  await banner.getByRole("link", { name: "Enter the code" }).click();
  await page.getByRole("heading", { name: "Verify your email address" }).waitFor();
  assert.equal(await page.getByLabel("Email", { exact: true }).inputValue(), email);
  await page.getByLabel("Code", { exact: true }).fill(code === "000000" ? "111111" : "000000");
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByText("That code is wrong, used or expired").waitFor();
  await page.getByLabel("Code", { exact: true }).fill(code);
  await page.getByRole("button", { name: "Verify" }).click();
  await page.getByText("Your email address is verified.").waitFor();
  await page.getByRole("link", { name: "Go to the dashboard" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await page.getByTestId("plan-name").waitFor();
  assert.equal(await page.getByTestId("verify-banner").count(), 0, "verified: no banner");

  // Notifications: chosen, saved, still chosen after a reload.
  // The signed-in name in the header opens the Account page.
  await page.getByRole("link", { name: `Account: ${email}` }).click();
  await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
  assert.match(await page.getByTestId("email-status").textContent(), /verified/);
  await page.getByLabel(/When a job or generation finishes/).check();
  await page.getByLabel(/A weekly summary/).check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
  await page.getByLabel(/A weekly summary/).waitFor();
  assert.equal(await page.getByLabel(/When a job or generation finishes/).isChecked(), true);
  assert.equal(await page.getByLabel(/A weekly summary/).isChecked(), true);
  assert.equal(await page.getByLabel(/Before an image link expires/).isChecked(), false);
  await shot(page, "10-account");

  // Forgotten password: the mailed code sets a new one, which signs in.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in to Easel" }).waitFor();
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await page.getByRole("heading", { name: "Reset your password" }).waitFor();
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByRole("button", { name: "Send a code" }).click();
  await page.getByRole("heading", { name: "Set a new password" }).waitFor();
  const reset = codeIn(await mailTo(email, "password reset code"));
  assert.equal(await page.getByLabel("Email", { exact: true }).inputValue(), email);
  await page.getByLabel("Code", { exact: true }).fill(reset);
  await page.getByLabel("New password", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Set the new password" }).click();
  const passwordField = page.getByLabel("New password", { exact: true });
  await page.locator(`#${await passwordField.getAttribute("id")}-error`).waitFor();
  const newPassword = "N3w-horse-battery!";
  await passwordField.fill(newPassword);
  await page.getByRole("button", { name: "Set the new password" }).click();
  await page.getByText("Your password is changed. Sign in with the new one.").waitFor();
  await shot(page, "10-password-reset");
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(newPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
});

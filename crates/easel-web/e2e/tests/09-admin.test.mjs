// Administration: an administrator (made with `easel user add --admin`) sees the Admin
// link, the configured alarm going to ALARM once a job dies, the dead job under its
// error code, and redrives it after a confirmation (audited); someone else sees no link.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before } from "node:test";

import { BASE, PASSWORD, apiCall, apiToken, launch, newEmail, openPage, scenario, shot, signUp } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("an administrator sees the alarm and redrives a dead job", async () => {
  const email = newEmail("admin");
  execFileSync(process.env.E2E_EASEL_BIN, ["--config", process.env.E2E_CONFIG, "user", "add", email, "--admin", "--password-stdin"], {
    input: `${PASSWORD}\n`,
  });
  const token = await apiToken(email);
  // A job that dies: a PNG cut short.
  const upload = await apiCall(token, "POST", "/v1/uploads", { filename: "cut.png", contentType: "image/png" });
  const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000040000000400806000000", "hex");
  const put = await fetch(upload.body.url, { method: "PUT", headers: { "content-type": "image/png" }, body: png });
  assert.equal(put.status, 200, await put.text());
  const job = await apiCall(token, "POST", "/v1/jobs", { sources: [{ bucket: "uploads", key: upload.body.key }], preset: "thumbnail" });
  assert.equal(job.status, 202);
  let dead;
  for (let i = 0; i < 100 && !dead; i += 1) {
    const { body } = await apiCall(token, "GET", `/v1/jobs/${job.body.jobId}`);
    if (body.status === "FAILED") dead = body;
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(dead, "the job died");

  const page = await openPage(browser);
  await page.goto(`${BASE}/#/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
  await page.getByRole("link", { name: "Admin", exact: true }).click();
  await page.getByRole("heading", { name: "Administration", level: 1 }).waitFor();

  // The alarm (run.mjs configures `dead-jobs`, 1-second periods) reaches ALARM.
  let state = "";
  for (let i = 0; i < 30 && state !== "ALARM"; i += 1) {
    await page.reload();
    const badge = page.locator('[data-alarm="dead-jobs"] [data-state]');
    await badge.waitFor();
    state = await badge.getAttribute("data-state");
  }
  assert.equal(state, "ALARM");

  const group = page.locator(`[data-error-code="${dead.errorCode}"]`);
  await group.waitFor();
  await shot(page, "09-admin");
  await group.getByRole("button", { name: /^Redrive/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Redrive" }).click();
  await page.locator("#live").filter({ hasText: /back in the queue/ }).waitFor();
  const audit = await apiCall(token, "GET", "/v1/admin/audit?limit=50");
  assert.ok(audit.body.events.some((e) => e.event === "jobs-redriven" && e.detail.includes(job.body.jobId)), JSON.stringify(audit.body.events.slice(0, 5)));
  page.assertClean();

  // Not an administrator: no Admin link.
  const other = await openPage(browser);
  await signUp(other, newEmail("not-admin"));
  assert.equal(await other.getByRole("link", { name: "Admin", exact: true }).count(), 0);
  other.assertClean();
});

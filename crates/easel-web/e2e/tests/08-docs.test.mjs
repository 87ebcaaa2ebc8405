// The API reference at /docs: Swagger UI, served from Easel itself under its strict
// Content-Security-Policy, renders every documented operation from /openapi.json with no
// CSP violation or script error; "Try it out" runs a real request against the server.

import assert from "node:assert/strict";
import { after, before } from "node:test";

import { BASE, launch, openPage, scenario, shot } from "../lib/harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(() => browser?.close());

scenario("the API docs render and can call the API", async () => {
  const page = await openPage(browser);
  const response = await page.goto(`${BASE}/docs`);
  assert.equal(response.status(), 200);
  const csp = response.headers()["content-security-policy"];
  assert.ok(csp && csp.includes("script-src 'self'") && !csp.includes("unsafe"), csp);

  // Every operation of the document appears as an operation block.
  const spec = await (await fetch(`${BASE}/openapi.json`)).json();
  const methods = ["get", "put", "post", "delete", "patch", "head"];
  const operations = Object.values(spec.paths)
    .flatMap((item) => Object.keys(item).filter((key) => methods.includes(key))).length;
  const blocks = page.locator(".opblock");
  await blocks.first().waitFor();
  await page.waitForFunction((n) => document.querySelectorAll(".opblock").length >= n, operations);
  assert.equal(await blocks.count(), operations);
  await page.getByText(spec.info.title, { exact: false }).first().waitFor();
  await shot(page, "08-docs");

  // Try a public operation for real: GET /healthz from the page.
  const health = page.locator(".opblock").filter({ hasText: "/healthz" }).first();
  await health.locator(".opblock-summary").click();
  await health.getByRole("button", { name: "Try it out" }).click();
  await health.getByRole("button", { name: "Execute" }).click();
  await health.locator(".response .response-col_status").filter({ hasText: "200" }).first().waitFor();
  await shot(page, "08-docs-try-it-out");

  page.assertClean();
});

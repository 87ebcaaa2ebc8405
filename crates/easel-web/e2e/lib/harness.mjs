// Shared helpers of the scenarios: the browser (Debian's Chromium through
// playwright-core), pages that record script errors and CSP violations, signing up
// through the UI, screenshots, direct API calls for setup and checks, and the e-mails the
// real SMTP server received.

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

import { test } from "node:test";

import { chromium } from "playwright-core";

export const BASE = process.env.E2E_URL;
export const OUT = process.env.E2E_OUT || "target/e2e";
export const PASSWORD = "Corr3ct-horse!";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

if (!BASE) throw new Error("E2E_URL is not set: run the scenarios through run.mjs");
mkdirSync(join(OUT, "screenshots"), { recursive: true });

/** Launches Chromium. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
  });
}

const openPages = new Set();

/**
 * A test that, when it fails, saves a screenshot of every page it opened
 * (`FAILED-<name>-<n>.png`) to show the state it failed in.
 */
export function scenario(name, fn) {
  test(name, async (t) => {
    try {
      await fn(t);
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      let n = 0;
      for (const page of openPages) {
        n += 1;
        await page.screenshot({ path: join(OUT, "screenshots", `FAILED-${slug}-${n}.png`), fullPage: true }).catch(() => {});
      }
      throw error;
    } finally {
      openPages.clear();
    }
  });
}

/**
 * A new page in its own context (fresh storage). `problems` collects uncaught errors,
 * console errors and CSP violations; `assertClean()` fails the test if there are any
 * beyond the `allowed` patterns (e.g. the 4xx a scenario provokes on purpose).
 */
export async function openPage(browser, { width = 1280, height = 900, colorScheme = "light", permissions = [] } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    colorScheme,
    acceptDownloads: true,
    permissions,
  });
  const page = await context.newPage();
  openPages.add(page);
  page.setDefaultTimeout(15_000);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.assertClean = (allowed = []) => {
    const left = problems.filter((p) => !allowed.some((re) => re.test(p)));
    if (left.length) throw new Error(`the page reported problems:\n${left.join("\n")}`);
  };
  return page;
}

let counter = 0;
/** A unique email for this run. */
export function newEmail(tag) {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}@example.com`;
}

/** Signs up through the UI and lands on the dashboard (signed in). */
export async function signUp(page, email, password = PASSWORD) {
  await page.goto(`${BASE}/#/signup`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
}

/**
 * Saves a full-page screenshot as `<OUT>/screenshots/<name>.png`, after every image
 * has loaded (lazy ones too: a full-page shot does not scroll), and fails if any image
 * on the page is broken.
 */
export async function shot(page, name) {
  const broken = await page.evaluate(async () => {
    const images = [...document.images];
    for (const img of images) img.loading = "eager";
    const loaded = images.map((img) => (img.complete ? null : new Promise((done) => {
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
    })));
    await Promise.race([Promise.all(loaded), new Promise((done) => setTimeout(done, 5000))]);
    return images.filter((img) => img.complete && img.naturalWidth === 0).map((img) => img.src.slice(0, 80));
  });
  await page.screenshot({ path: join(OUT, "screenshots", `${name}.png`), fullPage: true });
  if (broken.length) throw new Error(`broken images on the page (${name}): ${broken.join(", ")}`);
}

/** Signs in through the API; returns the access token. */
export async function apiToken(email, password = PASSWORD) {
  const response = await fetch(`${BASE}/v1/auth/sign-in`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: email, password }),
  });
  if (!response.ok) throw new Error(`sign-in: ${response.status} ${await response.text()}`);
  return (await response.json()).accessToken;
}

/** Calls the API with a token (or `{key}` for an API key); returns {status, body}. */
export async function apiCall(credential, method, path, body) {
  const headers = { "content-type": "application/json" };
  if (typeof credential === "string") headers.authorization = `Bearer ${credential}`;
  else if (credential && credential.key) headers["x-api-key"] = credential.key;
  const response = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Runs the `easel` binary with the server's configuration (e.g. `user set-plan`). */
export async function easel(...args) {
  const bin = process.env.E2E_EASEL_BIN;
  const run = promisify(execFile);
  return run(bin, ["--config", process.env.E2E_CONFIG, ...args], { env: { ...process.env } });
}

/** The text-to-image engines the server has (the openai engine, when it is built in). */
export async function textEngines(token) {
  const { body } = await apiCall(token, "GET", "/v1/engines");
  return body.engines.filter((e) => e.tasks.includes("TEXT_IMAGE")).map((e) => e.name);
}

/** What the fake OpenAI server received. */
export async function fakeOpenAiRequests() {
  const base = process.env.E2E_FAKE_OPENAI;
  const response = await fetch(`${base.replace(/\/v1$/, "")}/_requests`);
  return response.json();
}

/** Asserts that the page does not scroll sideways (a layout that fits its width). */
export async function assertNoHorizontalScroll(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  if (scroll > width + 1) throw new Error(`the page is ${scroll} px wide in a ${width} px viewport`);
}

/**
 * Waits for an e-mail to `address` whose subject contains `subject` in the real SMTP
 * server's maildir; returns the raw message.
 */
export async function mailTo(address, subject) {
  const dir = join(process.env.E2E_MAILDIR, "new");
  for (let i = 0; i < 200; i += 1) {
    const files = existsSync(dir) ? readdirSync(dir) : [];
    for (const file of files) {
      const mail = readFileSync(join(dir, file), "utf8");
      const subjectLine = mail.split(/\r?\n/).find((line) => line.startsWith("Subject:")) || "";
      if (mail.includes(`To: ${address}`) && subjectLine.includes(subject)) return mail;
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`no e-mail to ${address} about "${subject}"`);
}

/** The six-digit code in an e-mail. */
export function codeIn(mail) {
  const match = /Your code: (\d{6})/.exec(mail);
  if (!match) throw new Error(`no code in:\n${mail}`);
  return match[1];
}

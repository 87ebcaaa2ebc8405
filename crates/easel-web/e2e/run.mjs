// Runs the end-to-end scenarios: starts a fake OpenAI Images server, a real SMTP server
// (aiosmtpd, from scripts/detect-fixtures' Python, writing a maildir the scenarios read)
// and `easel serve` (port 0, a temporary data directory, a configuration written here:
// authentication on with the sign-up proof-of-work and e-mail verification, a `tiny`
// plan for the quota scenario, the openai engine pointed at the fake), runs
// tests/*.test.mjs with node's test runner, and stops them all.
//
// Environment: EASEL_BIN (the built binary, required), E2E_OUT (screenshots and logs,
// default target/e2e), E2E_PHOTOS (a directory of real JPEGs, required), E2E_DETECT
// (scripts/detect-fixtures' directory: a real detection model and photo, required),
// CHROMIUM.

import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { createConnection, createServer } from "node:net";

import { startFakeOpenAi } from "./lib/fake-openai.mjs";

/** Starts aiosmtpd on a free port, delivering into the maildir `dir`. */
async function startSmtp(dir) {
  const port = await new Promise((done) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port: free } = probe.address();
      probe.close(() => done(free));
    });
  });
  const python = join(detect, "python");
  const child = spawn(python, ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", dir], { stdio: "inherit" });
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise((done) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => {
        socket.end();
        done(true);
      });
      socket.on("error", () => done(false));
    });
    if (up) return { port, maildir: dir, process: child };
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`aiosmtpd did not start on port ${port}`);
}

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.EASEL_BIN && resolve(process.env.EASEL_BIN);
const out = resolve(process.env.E2E_OUT || "target/e2e");
const photos = process.env.E2E_PHOTOS && resolve(process.env.E2E_PHOTOS);
const detect = process.env.E2E_DETECT && resolve(process.env.E2E_DETECT);
if (!bin || !photos || !detect) {
  console.error("EASEL_BIN, E2E_PHOTOS and E2E_DETECT must be set (scripts/test-e2e sets them)");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
for (const old of readdirSync(out).filter((f) => f === "screenshots")) rmSync(join(out, old), { recursive: true });

const work = mkdtempSync(join(tmpdir(), "easel-e2e-"));
const apiKey = "sk-e2e-fake-key";
const model = "e2e-image-model";
const fake = await startFakeOpenAi({ apiKey, model });
const smtp = await startSmtp(join(work, "mail"));
const config = join(work, "easel.toml");
writeFileSync(
  config,
  `# Written by crates/easel-web/e2e/run.mjs for one end-to-end run.
[server]
bind = "127.0.0.1:0"

[storage]
data_dir = ${JSON.stringify(join(work, "data"))}

[workers]
poll_interval_ms = 100

[log]
format = "json"
level = "info"

[auth]
mode = "local"
allow_sign_up = true
# Verified addresses are asked for, not required: the other scenarios work unverified.
email_verification = "optional"

[auth.challenge]
enabled = true

[email]
smtp_url = "smtp://127.0.0.1:${smtp.port}"
from = "Easel <easel@example.com>"

[auth.lockout]
threshold = 5
base_ms = 1500
max_ms = 3000

[plans.default]
rate_per_sec = 100.0
burst = 500

[plans.tiny]
rate_per_sec = 100.0
burst = 500
quotas.generate = { day = 1 }
quotas.edit = { day = 1 }

[generation.moderation]
deny = ["forbiddenword"]

[[alarms]]
name = "dead-jobs"
metric = "dead_jobs"
threshold = 0
period_secs = 1
evaluation_periods = 60
datapoints_to_alarm = 1

[detection.models.nudenet]
path = ${JSON.stringify(join(detect, "nudenet-320n.onnx"))}

[engines.openai]
base_url = ${JSON.stringify(fake.url)}
api_key = ${JSON.stringify(apiKey)}
model = ${JSON.stringify(model)}
`,
);

const log = createWriteStream(join(out, "easel.log"));
const server = spawn(bin, ["--config", config, "serve"], { stdio: ["ignore", "pipe", "pipe"] });
server.stdout.pipe(log);
const url = await new Promise((resolveUrl, reject) => {
  let seen = "";
  const timer = setTimeout(() => reject(new Error(`easel did not start in 30 s:\n${seen}`)), 30_000);
  server.stderr.on("data", (chunk) => {
    log.write(chunk);
    seen += chunk.toString();
    const match = /easel listening on (http:\/\/\S+)/.exec(seen);
    if (match) {
      clearTimeout(timer);
      resolveUrl(match[1]);
    }
  });
  server.on("exit", (code) => reject(new Error(`easel exited with ${code}:\n${seen}`)));
});
console.log(`easel at ${url}; fake OpenAI at ${fake.url}; output in ${out}`);

const files = readdirSync(join(here, "tests")).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => join(here, "tests", f));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
const tests = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...selected], {
  stdio: "inherit",
  env: {
    ...process.env,
    E2E_URL: url,
    E2E_OUT: out,
    E2E_PHOTOS: photos,
    E2E_CONFIG: config,
    E2E_EASEL_BIN: bin,
    E2E_FAKE_OPENAI: fake.url,
    E2E_MAILDIR: smtp.maildir,
  },
});
const code = await new Promise((done) => tests.on("exit", (c) => done(c ?? 1)));

server.kill("SIGTERM");
await new Promise((done) => {
  const timer = setTimeout(() => {
    server.kill("SIGKILL");
    done();
  }, 10_000);
  server.on("exit", () => {
    clearTimeout(timer);
    done();
  });
});
await fake.close();
smtp.process.kill("SIGTERM");
writeFileSync(join(out, "fake-openai-requests.json"), JSON.stringify(fake.requests, null, 2));
rmSync(work, { recursive: true, force: true });
console.log(code === 0 ? "e2e: all scenarios passed" : `e2e: failed (exit ${code}); logs and screenshots in ${out}`);
process.exit(code);

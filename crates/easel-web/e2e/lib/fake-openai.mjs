// A fake OpenAI Images server for the generate scenario (no real model runs in CI). It
// checks the wire format Easel's `openai` engine sends — the Bearer key, JSON for
// /v1/images/generations with prompt, n, size and model, multipart for edits and
// variations — answers 400 in OpenAI's error shape when something is off, and answers
// real PNGs of the requested size in `data[].b64_json`. GET /_requests lists what it saw
// (tests run in other processes and assert on it).

import { createServer } from "node:http";

import { gradientPng } from "./png.mjs";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

function readBody(request) {
  return new Promise((resolve, reject) => {
    const parts = [];
    request.on("data", (c) => parts.push(c));
    request.on("end", () => resolve(Buffer.concat(parts)));
    request.on("error", reject);
  });
}

/** Parses multipart/form-data into {name: {filename, contentType, data}}. */
function parseMultipart(body, contentType) {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || "");
  if (!match) throw new Error("multipart without a boundary");
  const boundary = Buffer.from(`--${match[1] || match[2]}`);
  const fields = {};
  let at = body.indexOf(boundary);
  while (at >= 0) {
    const start = at + boundary.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(boundary, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after boundary, before next
    const split = part.indexOf("\r\n\r\n");
    const head = part.subarray(0, split).toString();
    const data = part.subarray(split + 4);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    const filename = /filename="([^"]*)"/i.exec(head)?.[1] ?? null;
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? null;
    if (name) fields[name] = { filename, contentType: type, data };
    at = next;
  }
  return fields;
}

function parseSize(size) {
  const m = /^(\d+)x(\d+)$/.exec(size || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

// A colour per prompt, so different prompts give visibly different images.
function colours(seedText) {
  let h = 2166136261;
  for (const ch of seedText) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const a = [h & 255, (h >>> 8) & 255, (h >>> 16) & 255].map((v) => 40 + (v % 160));
  return [a, a.map((v) => 255 - v)];
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startFakeOpenAi({ apiKey, model }) {
  const requests = [];

  function check(req, record, problems) {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      problems.push(`authorization is ${JSON.stringify(req.headers.authorization)}, expected Bearer <key>`);
    }
    record.authorization = req.headers.authorization === `Bearer ${apiKey}` ? "Bearer <key>" : req.headers.authorization;
  }

  function images(n, size, prompt) {
    const [w, h] = size;
    const [from, to] = colours(prompt || "variation");
    const png = gradientPng(w, h, from, to).toString("base64");
    return { created: Math.floor(Date.now() / 1000), data: Array.from({ length: n }, () => ({ b64_json: png })) };
  }

  const server = createServer(async (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === "/_requests") return send(200, requests);
    const body = await readBody(req);
    const record = { method: req.method, path: req.url, contentType: req.headers["content-type"] || null, at: Date.now() };
    const problems = [];
    requests.push(record);
    try {
      check(req, record, problems);
      let n = 1;
      let size = null;
      let prompt = "";
      if (req.method === "POST" && req.url === "/v1/images/generations") {
        if (!/^application\/json/.test(record.contentType || "")) problems.push("content-type is not application/json");
        const json = JSON.parse(body.toString("utf8"));
        record.body = json;
        if (typeof json.prompt !== "string" || !json.prompt) problems.push("prompt is missing");
        if (!Number.isInteger(json.n) || json.n < 1 || json.n > 10) problems.push(`n is ${JSON.stringify(json.n)}`);
        if (json.model !== model) problems.push(`model is ${JSON.stringify(json.model)}, expected ${model}`);
        size = parseSize(json.size);
        if (!size) problems.push(`size is ${JSON.stringify(json.size)}`);
        if (json.response_format !== undefined && json.response_format !== "b64_json") problems.push("response_format is not b64_json");
        n = json.n;
        prompt = json.prompt;
      } else if (req.method === "POST" && (req.url === "/v1/images/edits" || req.url === "/v1/images/variations")) {
        if (!/^multipart\/form-data/.test(record.contentType || "")) problems.push("content-type is not multipart/form-data");
        const fields = parseMultipart(body, record.contentType);
        record.fields = Object.fromEntries(
          Object.entries(fields).map(([k, v]) => [k, v.filename !== null ? `<file ${v.filename} ${v.data.length} bytes>` : v.data.toString("utf8")]),
        );
        if (!fields.image || !fields.image.data.subarray(0, 4).equals(PNG_SIGNATURE)) problems.push("image is not a PNG file part");
        if (req.url === "/v1/images/edits" && (!fields.mask || !fields.mask.data.subarray(0, 4).equals(PNG_SIGNATURE))) problems.push("mask is not a PNG file part");
        // Variations may go to another model (the engine's `variation_model`).
        if (req.url === "/v1/images/edits" && fields.model && fields.model.data.toString() !== model) problems.push("model differs");
        if (fields.model && !fields.model.data.toString()) problems.push("model is empty");
        n = fields.n ? Number(fields.n.data.toString()) : 1;
        size = parseSize(fields.size?.data.toString()) || [512, 512];
        prompt = fields.prompt?.data.toString() || "";
      } else {
        problems.push(`unexpected ${req.method} ${req.url}`);
      }
      record.problems = problems;
      if (problems.length) {
        return send(400, { error: { message: problems.join("; "), type: "invalid_request_error", code: null } });
      }
      return send(200, images(n, size, prompt));
    } catch (error) {
      record.problems = [...problems, String(error)];
      return send(400, { error: { message: String(error), type: "invalid_request_error" } });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

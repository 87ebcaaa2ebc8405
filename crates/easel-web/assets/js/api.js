// The API client: JSON requests with the access token (refreshed once on a 401),
// uploads to presigned URLs with progress, and Server-Sent Events read through fetch
// (EventSource cannot send an Authorization header).

import { ApiError } from "./errors.js";
import { currentAccessToken, readAnswer, refresh } from "./session.js";

/** Called when the session is over (refresh refused): the app shows the sign-in page. */
let onSessionEnded = () => {};
export function setSessionEndedHandler(handler) {
  onSessionEnded = handler;
}

async function send(method, path, body, headers, signal) {
  const all = { ...headers };
  const token = currentAccessToken();
  if (token) all.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    all["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  try {
    return await fetch(path, { method, headers: all, body: payload, signal });
  } catch (cause) {
    if (cause && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "network-error", String(cause));
  }
}

async function ensureToken() {
  if (currentAccessToken()) return;
  try {
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) onSessionEnded(error);
    throw error;
  }
}

/**
 * Sends a request with the caller's credentials and returns the parsed JSON (null for
 * 204). A 401 triggers one refresh and one retry. Returns `{status, body, headers}`
 * instead when `full` is set. Throws ApiError.
 */
export async function api(method, path, { body, headers = {}, signal, full = false } = {}) {
  await ensureToken();
  let response = await send(method, path, body, headers, signal);
  if (response.status === 401) {
    try {
      await refresh();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onSessionEnded(error);
      throw error;
    }
    response = await send(method, path, body, headers, signal);
    if (response.status === 401) {
      const error = await readAnswer(response).catch((e) => e);
      onSessionEnded(error);
      throw error;
    }
  }
  const parsed = await readAnswer(response);
  return full ? { status: response.status, body: parsed, headers: response.headers } : parsed;
}

/**
 * PUTs `blob` to a presigned upload (`{url, headers}` from POST /v1/uploads) and
 * reports progress as `onProgress(loaded, total)`. XMLHttpRequest, because fetch
 * reports no upload progress. Resolves when stored; rejects with ApiError.
 */
export function uploadTo(upload, blob, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", upload.url);
    for (const [name, value] of Object.entries(upload.headers || {})) {
      // The browser sends the body's own Content-Length (the value an S3 URL binds) and
      // refuses to let scripts set it.
      if (name.toLowerCase() !== "content-length") xhr.setRequestHeader(name, value);
    }
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(blob.size, blob.size);
        resolve();
        return;
      }
      let error = {};
      try {
        error = JSON.parse(xhr.responseText).error || {};
      } catch {
        error = {};
      }
      reject(new ApiError(xhr.status, error.code || `http-${xhr.status}`, error.message || "the upload failed"));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network-error", "the upload failed")));
    xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    if (signal) signal.addEventListener("abort", () => xhr.abort());
    xhr.send(blob);
  });
}

/**
 * Reads a Server-Sent Events stream at `path` and calls `onEvent(name, data)` for each
 * event (data parsed as JSON). Resolves when the stream ends.
 */
export async function readEvents(path, onEvent, signal) {
  await ensureToken();
  let response = await send("GET", path, undefined, { accept: "text/event-stream" }, signal);
  if (response.status === 401) {
    await refresh();
    response = await send("GET", path, undefined, { accept: "text/event-stream" }, signal);
  }
  if (!response.ok || !response.body) {
    await readAnswer(response);
    throw new ApiError(response.status, "no-event-stream", "the event stream could not be opened");
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      let parsed;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch {
        parsed = data.join("\n");
      }
      onEvent(name, parsed);
    }
  }
}

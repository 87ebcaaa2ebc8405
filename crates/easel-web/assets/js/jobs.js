// Following a job live: the job's event stream (one `status` event per change), with
// polling as the fallback when the stream cannot be opened or ends early. Generations
// are jobs too (a history entry's id is its job id), so both pages use this.

import { api, readEvents } from "./api.js";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

/** Whether a job status is final. */
export function isTerminal(status) {
  return TERMINAL.has(status);
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      });
    }
  });

/**
 * Follows job `id` until it is final, calling `onUpdate(jobView)` on each change;
 * resolves with the final view (GET /v1/jobs/{id} shape).
 */
export async function followJob(id, onUpdate, signal) {
  let last = null;
  try {
    await readEvents(
      `/v1/jobs/${encodeURIComponent(id)}/events`,
      (name, data) => {
        if (name !== "status" || typeof data !== "object") return;
        last = data;
        onUpdate(data);
      },
      signal,
    );
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    // Fall through to polling.
  }
  while (!last || !isTerminal(last.status)) {
    if (last) await sleep(700, signal);
    last = await api("GET", `/v1/jobs/${encodeURIComponent(id)}`, { signal });
    onUpdate(last);
  }
  return last;
}

/** A short description of a job's state for a status line. */
export function describeProgress(view) {
  const total = view.imageCount || 0;
  switch (view.status) {
    case "PENDING":
      return "Queued…";
    case "RUNNING":
      return total ? `Working: ${view.progress || 0} of ${total} done` : "Working…";
    case "COMPLETED":
      return total ? `Done: ${total} of ${total}` : "Done";
    case "FAILED":
      return `Failed${view.error ? `: ${view.error}` : ""}`;
    case "CANCELLED":
      return "Cancelled";
    default:
      return view.status;
  }
}

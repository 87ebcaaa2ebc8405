// History: one grid of past generations and edits (GET /v1/history) and processing
// jobs (GET /v1/jobs, kind "process"), newest first, merged from the two cursors and
// shown a page at a time. Each card opens a detail view, downloads, regenerates,
// edits and deletes (generations and edits only: the API cannot delete processed
// images, see NEEDS.md).

import { api } from "../api.js";
import { announce, confirmDialog, formatDate, formatDuration, h, statusLine } from "../dom.js";
import { describe } from "../errors.js";
import { followEntry, imageLinks } from "./generate.js";
import { resultCard } from "./process.js";

const PAGE = 12;

/** Reads one newest-first list a page at a time. */
class Source {
  constructor(path, itemsOf, keep) {
    this.path = path;
    this.itemsOf = itemsOf;
    this.keep = keep;
    this.buffer = [];
    this.cursor = null;
    this.done = false;
  }

  async fill(signal) {
    while (!this.buffer.length && !this.done) {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (this.cursor) query.set("cursor", this.cursor);
      const body = await api("GET", `${this.path}?${query}`, { signal });
      this.buffer.push(...this.itemsOf(body).filter(this.keep));
      this.cursor = body.nextCursor;
      this.done = !this.cursor;
    }
  }
}

/** Two newest-first lists read as one. */
class Feed {
  constructor() {
    this.sources = [
      new Source("/v1/history", (b) => b.items.map((entry) => ({ type: "generation", at: entry.createdAt, entry })), () => true),
      new Source("/v1/jobs", (b) => b.jobs.map((job) => ({ type: "process", at: job.createdAt, job })), (item) => item.job.kind === "process"),
    ];
  }

  get exhausted() {
    return this.sources.every((s) => s.done && !s.buffer.length);
  }

  async next(n, signal) {
    const out = [];
    while (out.length < n) {
      await Promise.all(this.sources.map((s) => s.fill(signal)));
      const ready = this.sources.filter((s) => s.buffer.length);
      if (!ready.length) break;
      ready.sort((a, b) => (a.buffer[0].at < b.buffer[0].at ? 1 : -1));
      out.push(ready[0].buffer.shift());
    }
    return out;
  }
}

/** `#/history` */
export function render(main, { signal }) {
  const grid = h("ul", { class: "history-grid", "aria-label": "History", "data-testid": "history" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const status = statusLine();
  const count = h("p", { class: "muted", "aria-live": "polite" });
  main.append(
    h("h1", {}, "History"),
    h("p", { class: "lead" }, "Your generations, edits and processed images, newest first."),
    count,
    grid,
    status,
    h("div", { class: "actions center" }, more),
  );
  let feed = new Feed();
  let shown = 0;

  async function loadPage() {
    more.disabled = true;
    status.set("Loading…");
    try {
      const items = await feed.next(PAGE, signal);
      const first = grid.children.length;
      for (const item of items) grid.append(card(item));
      shown += items.length;
      status.set("");
      count.textContent = shown ? `${shown} item${shown === 1 ? "" : "s"} shown` : "";
      if (!shown) grid.replaceChildren(h("li", { class: "empty" }, "Nothing yet. ", h("a", { href: "#/generate" }, "Generate"), ", ", h("a", { href: "#/edit" }, "edit"), " or ", h("a", { href: "#/process" }, "process"), " an image."));
      more.hidden = feed.exhausted;
      if (first > 0 && grid.children[first]) grid.children[first].querySelector("button, a")?.focus();
    } catch (error) {
      if (error.name !== "AbortError") status.set(describe(error), "error");
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", loadPage);

  function reload() {
    feed = new Feed();
    shown = 0;
    grid.replaceChildren();
    return loadPage();
  }

  function card(item) {
    return item.type === "generation" ? generationCard(item.entry) : processCard(item.job);
  }

  function generationCard(entry) {
    const image = entry.images[0];
    const title = entry.prompt || (entry.operation === "edit" ? "Edit without a prompt" : "Generation");
    const line = statusLine();
    const actions = h("div", { class: "links" });
    const open = h("button", { type: "button", class: "small" }, "Open");
    open.addEventListener("click", () => openEntry(entry));
    actions.append(open);
    if (image) actions.append(h("a", { class: "button small", href: image.url, download: image.filename, "aria-label": `Download ${image.filename}` }, "Download"));
    const regenerate = h("button", { type: "button", class: "small" }, "Regenerate");
    regenerate.addEventListener("click", async () => {
      regenerate.disabled = true;
      const progress = h("progress", { max: 1, value: 0, "aria-label": "Regeneration progress" });
      line.after(progress);
      try {
        line.set("Sending…");
        const started = await api("POST", `/v1/history/${encodeURIComponent(entry.id)}/regenerate?wait=0`, { body: {}, signal });
        await followEntry(started, line, progress, signal);
        announce("Regenerated; the new entry is first in the list");
        await reload();
      } catch (error) {
        if (error.name !== "AbortError") line.set(describe(error), "error");
        progress.remove();
        regenerate.disabled = false;
      }
    });
    actions.append(regenerate);
    if (image) actions.append(h("a", { class: "button small", href: `#/edit?from=${encodeURIComponent(entry.id)}&image=0` }, "Edit"));
    const remove = h("button", { type: "button", class: "danger small", "aria-label": `Delete “${truncate(title, 40)}”` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete “${truncate(title, 60)}” and its images? This cannot be undone.`, "Delete"))) return;
      try {
        await api("DELETE", `/v1/history/${encodeURIComponent(entry.id)}`, { signal });
        const li = remove.closest("li");
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        shown -= 1;
        count.textContent = `${shown} item${shown === 1 ? "" : "s"} shown`;
        announce("Deleted");
        (next?.querySelector("button") || more).focus();
      } catch (error) {
        if (error.name !== "AbortError") line.set(describe(error), "error");
      }
    });
    actions.append(remove);
    return h(
      "li",
      { class: "history-card", "data-id": entry.id, "data-type": "generation" },
      thumb(image ? image.url : null, title, entry.status),
      h(
        "div",
        { class: "meta" },
        h("span", { class: `badge ${entry.operation}` }, entry.operation === "edit" ? "Edited" : "Generated"),
        entry.status !== "COMPLETED" ? h("span", { class: "badge warn" }, entry.status.toLowerCase()) : null,
        h("p", { class: "prompt", title }, truncate(title, 120)),
        h("p", { class: "muted small" }, h("time", { datetime: entry.createdAt }, formatDate(entry.createdAt)), " · ", expiry(entry.expiresAt)),
      ),
      actions,
      line,
    );
  }

  function processCard(job) {
    const outputs = job.results.filter((r) => r.output);
    const first = outputs[0]?.output;
    const title = `Processed ${job.imageCount} image${job.imageCount === 1 ? "" : "s"}${job.preset ? ` with “${job.preset}”` : " with a pipeline"}`;
    const open = h("button", { type: "button", class: "small" }, "Open");
    open.addEventListener("click", () => openJob(job, title));
    return h(
      "li",
      { class: "history-card", "data-id": job.jobId, "data-type": "process" },
      thumb(first ? first.downloadUrl : null, title, job.status),
      h(
        "div",
        { class: "meta" },
        h("span", { class: "badge process" }, "Processed"),
        job.status !== "COMPLETED" ? h("span", { class: "badge warn" }, job.status.toLowerCase()) : null,
        h("p", { class: "prompt" }, title),
        h("p", { class: "muted small" }, h("time", { datetime: job.createdAt }, formatDate(job.createdAt)), " · kept until deleted"),
      ),
      h(
        "div",
        { class: "links" },
        open,
        first ? h("a", { class: "button small", href: first.downloadUrl, download: first.key.split("/").pop() }, "Download") : null,
        first ? h("a", { class: "button small", href: `#/edit?job=${encodeURIComponent(job.jobId)}&image=${outputs[0].index}` }, "Edit") : null,
      ),
    );
  }

  function openEntry(entry) {
    const details = [
      ["Prompt", entry.prompt],
      ["Negative prompt", entry.negativePrompt],
      ["Style", entry.stylePreset],
      ["Task", entry.taskType],
      ["Engine", entry.engine],
      ["Seed", entry.seed],
      ["Size", `${entry.width} × ${entry.height}`],
      ["Cfg scale", entry.cfgScale],
      ["Quality", entry.quality],
      ["Format", entry.outputFormat],
      ["Created", formatDate(entry.createdAt)],
      ["Expires", entry.expiresAt ? formatDate(entry.expiresAt) : "never"],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    showDialog(
      entry.prompt || "Generation",
      h("div", { class: "gallery" }, entry.images.map((image, i) => h("figure", { class: "result" }, h("div", { class: "preview" }, h("img", { src: image.url, alt: `Image ${i + 1} of ${entry.images.length}`, width: image.width, height: image.height })), h("figcaption", {}, imageLinks(image))))),
      entry.error ? h("p", { class: "form-error" }, `${entry.error.code}: ${entry.error.message}`) : null,
      h("dl", { class: "facts" }, details.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
      h("div", { class: "actions" }, h("a", { class: "button", href: `#/generate?from=${encodeURIComponent(entry.id)}` }, "Open in Generate")),
    );
  }

  function openJob(job, title) {
    showDialog(
      title,
      h("div", { class: "gallery" }, job.results.map((r) => resultCard(r, null))),
      h("dl", { class: "facts" }, h("dt", {}, "Status"), h("dd", {}, job.status), h("dt", {}, "Created"), h("dd", {}, formatDate(job.createdAt)), job.error ? [h("dt", {}, "Error"), h("dd", {}, job.error)] : null),
    );
  }

  function showDialog(title, ...content) {
    const opener = document.activeElement;
    const close = h("button", { type: "button", class: "ghost close" }, "Close");
    const dialog = h("dialog", { class: "detail", "aria-labelledby": "detail-title" }, h("div", { class: "dialog-head" }, h("h2", { id: "detail-title" }, truncate(title, 100)), close), ...content);
    close.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener?.isConnected) opener.focus();
    });
    // Following a link inside (Edit, Open in Generate) leaves the page: close first.
    dialog.addEventListener("click", (event) => {
      if (event.target.closest("a[href^='#/']")) dialog.close();
    });
    document.body.append(dialog);
    dialog.showModal();
    close.focus();
  }

  loadPage();
}

function thumb(url, alt, status) {
  return h("div", { class: "thumb" }, url ? h("img", { src: url, alt: truncate(alt, 120), loading: "lazy" }) : h("span", { class: "muted" }, status === "COMPLETED" ? "No image" : status.toLowerCase()));
}

function expiry(iso) {
  if (!iso) return "kept until deleted";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  return h("span", { title: formatDate(iso) }, seconds > 0 ? `expires in ${formatDuration(seconds)}` : "expired");
}

function truncate(text, n) {
  const t = String(text || "");
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

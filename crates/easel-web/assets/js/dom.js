// Small DOM helpers: element construction, labelled form fields, announcements for
// screen readers, and formatting of dates, sizes and durations.

/**
 * Creates an element. `attrs` keys: `class`, `for`, `text`, `on<event>` (functions),
 * `dataset` (object), boolean properties (`disabled`, `checked`, `hidden`, …) and any
 * other attribute. Children may be strings, nodes, arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", value);
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (!svg && (key === "value" || key === "checked" || key === "selected")) {
      el[key] = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
/** A unique element id with a readable prefix. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * A labelled form field: `<div class="field">` with the label, the control, an optional
 * hint and the error slot the control is described by. `control` is an element whose id
 * is set here when missing. Returns the wrapper; the error slot is `.field-error`.
 */
export function field(label, control, { hint, name, className } = {}) {
  if (!control.id) control.id = newId(name || "field");
  if (name) control.dataset.field = name;
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  const errorEl = h("p", { class: "field-error", id: `${control.id}-error`, hidden: true });
  const described = [hintEl ? hintEl.id : null, errorEl.id].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const labelEl = h("label", { for: control.id }, label);
  return h("div", { class: `field ${className || ""}`.trim() }, labelEl, control, hintEl, errorEl);
}

/** Puts `extra` (a live value, a counter) on the same line as a field's label. */
export function besideLabel(fieldEl, extra) {
  const label = fieldEl.querySelector("label");
  const row = h("div", { class: "label-row" });
  label.replaceWith(row);
  row.append(label, extra);
  return fieldEl;
}

/** A `<select>` with `[value, label]` options. */
export function select(options, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map(([value, label]) => h("option", { value }, label)),
  );
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  // A new text node after a tick makes screen readers read a repeated message again.
  setTimeout(() => {
    live.textContent = text;
  }, 50);
}

/** A status line (`role=status`) that can show info, success or error text. */
export function statusLine(attrs = {}) {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite", ...attrs });
  el.set = (text, kind = "info") => {
    el.textContent = text || "";
    el.dataset.kind = kind;
    el.hidden = !text;
  };
  el.hidden = true;
  return el;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A readable local date and time for an RFC 3339 string. */
export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateFormat.format(date);
}

/** "3 h 20 min", "45 s": a duration in seconds, for retry hints and expiries. */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.round(hours / 24)} days`;
}

/** "1.2 MB": a byte count. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Copies `text` to the clipboard; falls back to selecting it in `fallbackInput`. */
export async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackInput) {
      fallbackInput.focus();
      fallbackInput.select();
      return document.execCommand && document.execCommand("copy");
    }
    return false;
  }
}

/** A link that downloads `url` (same origin) as `filename`. */
export function downloadLink(url, filename, label = "Download", attrs = {}) {
  return h("a", { class: "button", href: url, download: filename || "", ...attrs }, label);
}

/** Asks for confirmation in a modal `<dialog>`; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-label": message },
      h("p", {}, message),
      h(
        "form",
        { method: "dialog", class: "actions" },
        h("button", { value: "cancel", class: "ghost" }, "Cancel"),
        h("button", { value: "ok", class: "danger" }, confirmLabel),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

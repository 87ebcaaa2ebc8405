// API errors and where they are shown. Every native error is
// `{"error":{"code","message","requestId"}}`; validation errors of generations name the
// field as a JSON pointer in the message (`#/textToImageParams/text: …`). A form maps
// codes and pointers to its fields, and the message appears next to that field.

import { formatDuration } from "./dom.js";

/** An error answered by the API (or a network failure, with status 0). */
export class ApiError extends Error {
  constructor(status, code, message, { requestId, retryAfter } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId || null;
    this.retryAfter = retryAfter ?? null;
    const pointer = /#(\/[A-Za-z0-9_/]+)/.exec(message || "");
    this.pointer = pointer ? `#${pointer[1]}` : null;
  }
}

/** The text a person should read for `error` (an ApiError or anything thrown). */
export function describe(error) {
  if (!(error instanceof ApiError)) return error && error.message ? error.message : String(error);
  const wait = error.retryAfter ? formatDuration(error.retryAfter) : null;
  switch (error.code) {
    case "network-error":
      return "Easel could not be reached. Check your connection and try again.";
    case "invalid-credentials":
      return "Incorrect email or password.";
    case "too-many-failed-sign-ins":
      return `Too many failed sign-ins for this account, so it is locked for now. Try again in ${wait || "a moment"}.`;
    case "quota-exceeded":
      return `${quotaText(error.message)}${wait ? ` It resets in ${wait}.` : ""}`;
    case "rate-limited":
      return `Too many requests at once. Try again in ${wait || "a moment"}.`;
    case "content-filtered":
      return "This prompt was blocked by the content filter. Rephrase it and try again.";
    case "invalid-refresh-token":
      return "Your session has ended. Sign in again.";
    case "username-exists":
      return "An account with this email already exists. Sign in instead.";
    case "verification-required":
      return "Verify your email address first: enter the code we emailed you on the Account page.";
    case "invalid-code":
      return "That code is wrong, used or expired. Check the email, or ask for a new code.";
    case "invalid-challenge":
    case "challenge-required":
      return "Easel could not check that this is a browser. Try again.";
    case "email-not-configured":
      return "This Easel sends no email, so this is not available. Ask an administrator.";
    case "invalid-request":
      return tidyValidation(error.message);
    default:
      return capitalise(error.message || error.code);
  }
}

// "the day quota of 10 generate requests per day is used up" → "You have used up your
// generate quota (10 per day)."; other wordings are shown as they are.
function quotaText(message) {
  const m = /the (\w+) quota of (\d+) (\w+) requests per (\w+)/.exec(message || "");
  if (!m) return `${capitalise(message)}.`;
  return `You have used up your ${m[3]} quota (${m[2]} per ${m[4]}).`;
}

function capitalise(text) {
  const t = String(text || "").trim();
  return t ? t[0].toUpperCase() + t.slice(1) : t;
}

// "Malformed input request: #/a/b: expected maxLength: 512, actual: 536, please reformat
// your input and try again." → "expected maxLength: 512, actual: 536".
function tidyValidation(message) {
  let text = String(message || "");
  text = text.replace(/^Malformed input request:\s*/, "");
  text = text.replace(/^#\/[A-Za-z0-9_/]*:\s*/, "");
  text = text.replace(/,?\s*please reformat your input and try again\.?$/, "");
  const length = /^expected (maxLength|minLength): (\d+), actual: (\d+)$/.exec(text);
  if (length) {
    return length[1] === "maxLength"
      ? `Too long: at most ${length[2]} characters, this has ${length[3]}.`
      : `Too short: at least ${length[2]} characters, this has ${length[3]}.`;
  }
  return capitalise(text);
}

/** Removes every error shown in `root` (fields and the form-level alert). */
export function clearErrors(root) {
  for (const el of root.querySelectorAll(".field-error")) {
    el.textContent = "";
    el.hidden = true;
  }
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of root.querySelectorAll(".form-error")) {
    el.textContent = "";
    el.hidden = true;
  }
}

/** Shows `message` next to the control with `data-field=name` in `root`; returns it. */
export function showFieldError(root, name, message) {
  const control = root.querySelector(`[data-field="${name}"]`);
  if (!control) return null;
  const slot = document.getElementById(`${control.id}-error`);
  if (!slot) return null;
  slot.textContent = message;
  slot.hidden = false;
  control.setAttribute("aria-invalid", "true");
  return control;
}

/**
 * Shows `error` in `root`: next to the field that `fieldFor(error)` names (a field name,
 * or null), else in the form's `.form-error` alert. Focuses the field at fault.
 */
export function showError(root, error, fieldFor = () => null) {
  clearErrors(root);
  const message = describe(error);
  const name = error instanceof ApiError ? fieldFor(error) : null;
  const control = name ? showFieldError(root, name, message) : null;
  if (control) {
    control.focus();
    return;
  }
  const alert = root.querySelector(".form-error");
  if (alert) {
    alert.textContent = message;
    alert.hidden = false;
  } else {
    window.alert(message);
  }
}

/** The form-level alert slot (`role=alert`), placed where the form wants it. */
export function formError() {
  const el = document.createElement("p");
  el.className = "form-error";
  el.setAttribute("role", "alert");
  el.hidden = true;
  return el;
}

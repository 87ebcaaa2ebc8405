// The signed-in session. The refresh token lives in localStorage so a session survives
// reloads, new tabs and browser restarts (that is what "stay signed in" means for a
// self-hosted tool); the access token lives only in memory and is re-obtained with the
// refresh token after a reload or a 401. The page's strict CSP (scripts from this origin
// only, no inline script) is what protects the stored token from injected scripts, and
// refresh tokens rotate with reuse detection, so a copied token is revoked as soon as
// either party uses it after the other. Refresh tokens are single-use: refreshes are
// serialised across tabs with the Web Locks API (where it exists) and each one reads
// the newest stored token, so two tabs never present the same token twice.

import { ApiError } from "./errors.js";

const STORE_KEY = "easel.refreshToken";
const USER_KEY = "easel.username";

let accessToken = null;
let refreshing = null;
const listeners = new Set();

/** Reads a JSON answer, throwing an ApiError for any error status. */
export async function readAnswer(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = (body && body.error) || {};
    const retry = Number(response.headers.get("retry-after"));
    throw new ApiError(
      response.status,
      error.code || `http-${response.status}`,
      error.message || response.statusText || "the request failed",
      {
        requestId: error.requestId || response.headers.get("x-request-id"),
        retryAfter: Number.isFinite(retry) && retry > 0 ? retry : null,
      },
    );
  }
  return body;
}

/** POSTs JSON without credentials (the sign-in family of routes). */
export async function postPublic(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw new ApiError(0, "network-error", String(cause));
  }
  return readAnswer(response);
}

function store(tokens, username) {
  accessToken = tokens.accessToken;
  localStorage.setItem(STORE_KEY, tokens.refreshToken);
  if (username) localStorage.setItem(USER_KEY, username);
}

function forget() {
  accessToken = null;
  localStorage.removeItem(STORE_KEY);
  localStorage.removeItem(USER_KEY);
}

function notify() {
  for (const listener of listeners) listener(isSignedIn());
}

/** Whether a session exists (a refresh token is stored). */
export function isSignedIn() {
  return Boolean(localStorage.getItem(STORE_KEY));
}

/** The signed-in username as last seen, for the header. */
export function username() {
  return localStorage.getItem(USER_KEY) || "";
}

/** Shows `name` as the signed-in username from now on (after a change of address). */
export function renameSession(name) {
  localStorage.setItem(USER_KEY, name);
  notify();
}

/** The in-memory access token (null until a sign-in or refresh this page load). */
export function currentAccessToken() {
  return accessToken;
}

/** Calls `listener(signedIn)` whenever the session starts or ends (in any tab). */
export function onSessionChange(listener) {
  listeners.add(listener);
}

/** Signs in; throws ApiError (`invalid-credentials`, `too-many-failed-sign-ins`, …). */
export async function signIn(email, password) {
  const tokens = await postPublic("/v1/auth/sign-in", { username: email, password });
  store(tokens, email.trim().toLowerCase());
  notify();
}

/** Creates an account (then sign in separately); `altcha` is a solved challenge or null. */
export function signUp(email, password, altcha = null) {
  return postPublic("/v1/auth/sign-up", altcha ? { email, password, altcha } : { email, password });
}

/** Revokes this sign-in's refresh tokens and forgets the session. */
export async function signOut() {
  const token = localStorage.getItem(STORE_KEY);
  forget();
  notify();
  if (token) {
    try {
      await postPublic("/v1/auth/sign-out", { refreshToken: token });
    } catch {
      // Signed out locally either way; the token expires on its own.
    }
  }
}

async function rotate() {
  const token = localStorage.getItem(STORE_KEY);
  if (!token) throw new ApiError(401, "invalid-refresh-token", "no session");
  try {
    const tokens = await postPublic("/v1/auth/refresh", { refreshToken: token });
    store(tokens);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forget();
      notify();
    }
    throw error;
  }
}

/**
 * Gets a new access token with the stored refresh token (one refresh at a time in this
 * tab, and across tabs where Web Locks exist). Throws when the session is over.
 */
export function refresh() {
  if (!refreshing) {
    const run = navigator.locks
      ? navigator.locks.request("easel-refresh", rotate)
      : rotate();
    refreshing = run.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

// Another tab signed out (or in): follow it.
window.addEventListener("storage", (event) => {
  if (event.key !== STORE_KEY) return;
  if (!event.newValue) {
    accessToken = null;
    notify();
  } else if (!event.oldValue) {
    notify();
  }
});

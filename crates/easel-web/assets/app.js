// Easel's web UI: the shell (header, navigation, theme) and the hash router
// (`#/generate?…`), so the server only ever serves `/` and `/ui/*`. Each page module
// exports `render(main, {params, signal})`; `signal` aborts when the page is left.

import { announce } from "./js/dom.js";
import { api, setSessionEndedHandler } from "./js/api.js";
import { isSignedIn, onSessionChange, signOut, username } from "./js/session.js";
import { renderSignIn, renderSignUp } from "./js/pages/auth.js";
import { render as renderDashboard } from "./js/pages/dashboard.js";
import { render as renderGenerate } from "./js/pages/generate.js";
import { render as renderEdit } from "./js/pages/edit.js";
import { render as renderProcess } from "./js/pages/process.js";
import { render as renderHistory } from "./js/pages/history.js";
import { render as renderKeys } from "./js/pages/keys.js";
import { render as renderAdmin } from "./js/pages/admin.js";
import { render as renderAccount } from "./js/pages/account.js";
import { renderForgotPassword, renderResetPassword, renderVerifyEmail } from "./js/pages/recovery.js";

const PAGES = {
  signin: { title: "Sign in", public: true, render: renderSignIn },
  signup: { title: "Create an account", public: true, render: renderSignUp },
  "forgot-password": { title: "Reset your password", public: true, render: renderForgotPassword },
  "reset-password": { title: "Set a new password", public: true, render: renderResetPassword },
  // Reached from an email, signed in or not.
  "verify-email": { title: "Verify your email", public: true, either: true, render: renderVerifyEmail },
  dashboard: { title: "Dashboard", render: renderDashboard },
  generate: { title: "Generate", render: renderGenerate },
  edit: { title: "Edit", render: renderEdit },
  process: { title: "Process", render: renderProcess },
  history: { title: "History", render: renderHistory },
  keys: { title: "API keys", render: renderKeys },
  admin: { title: "Administration", render: renderAdmin },
  account: { title: "Account", render: renderAccount },
};

// Whether the signed-in account is an administrator (asked once per sign-in): the Admin
// link shows only then (the API refuses others anyway).
let adminChecked = false;
async function showAdminLink() {
  const link = document.getElementById("nav-admin");
  if (!isSignedIn()) {
    adminChecked = false;
    link.hidden = true;
    return;
  }
  if (adminChecked) return;
  adminChecked = true;
  try {
    const me = await api("GET", "/v1/me");
    link.hidden = !me.admin;
  } catch {
    adminChecked = false;
  }
}

const main = document.getElementById("main");
let leaving = null;
let firstRender = true;

function current() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query = ""] = raw.split("?", 2);
  return { name: name || "", params: new URLSearchParams(query) };
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function updateHeader() {
  const signedIn = isSignedIn();
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("menu-toggle").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  // The signed-in name opens the Account page (address, notifications).
  const who = document.getElementById("who");
  who.textContent = signedIn ? username() : "";
  who.hidden = !signedIn;
  who.setAttribute("aria-label", `Account: ${username()}`);
  if (current().name === "account") who.setAttribute("aria-current", "page");
  else who.removeAttribute("aria-current");
  showAdminLink();
  const { name } = current();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function route() {
  const { name, params } = current();
  if (!PAGES[name]) {
    // Not a page (e.g. the skip link's #main): leave the view as it is.
    if (name && !name.startsWith("/") && document.getElementById(name)) return;
    go(isSignedIn() ? "#/dashboard" : "#/signin");
    return;
  }
  const page = PAGES[name];
  if (!page.public && !isSignedIn()) {
    go(`#/signin?next=${encodeURIComponent(name)}`);
    return;
  }
  if (page.public && !page.either && isSignedIn()) {
    go("#/dashboard");
    return;
  }
  if (leaving) leaving.abort();
  leaving = new AbortController();
  document.title = `${page.title} · Easel`;
  document.getElementById("nav").classList.remove("open");
  document.getElementById("menu-toggle").setAttribute("aria-expanded", "false");
  updateHeader();
  main.replaceChildren();
  main.dataset.page = name;
  page.render(main, { params, signal: leaving.signal, go });
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    if (!firstRender) heading.focus();
  }
  if (!firstRender) announce(`${page.title} page`);
  firstRender = false;
}

// Theme: follow the system, or a choice kept in localStorage.
const THEMES = ["auto", "light", "dark"];
function applyTheme(theme) {
  const root = document.documentElement;
  if (theme === "auto") root.removeAttribute("data-theme");
  else root.dataset.theme = theme;
  const button = document.getElementById("theme-toggle");
  const prefix = document.createElement("span");
  prefix.className = "wide-only";
  prefix.textContent = "Theme: ";
  button.replaceChildren(prefix, theme);
  button.setAttribute(
    "aria-label",
    theme === "auto" ? "Colour theme: follow the system" : `Colour theme: ${theme}`,
  );
}
let theme = localStorage.getItem("easel.theme") || "auto";
if (!THEMES.includes(theme)) theme = "auto";
applyTheme(theme);
document.getElementById("theme-toggle").addEventListener("click", () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem("easel.theme", theme);
  applyTheme(theme);
  announce(`Theme: ${theme}`);
});

document.getElementById("menu-toggle").addEventListener("click", (event) => {
  const nav = document.getElementById("nav");
  const open = !nav.classList.contains("open");
  nav.classList.toggle("open", open);
  event.currentTarget.setAttribute("aria-expanded", String(open));
});

document.getElementById("sign-out").addEventListener("click", async () => {
  // The session listener below takes the page to the sign-in form.
  await signOut();
  announce("Signed out");
});

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

setSessionEndedHandler(() => {
  if (PAGES[current().name] && !PAGES[current().name].public) {
    go("#/signin?reason=expired");
  }
});

onSessionChange((signedIn) => {
  updateHeader();
  const page = PAGES[current().name];
  if (!signedIn && page && !page.public) go("#/signin?reason=signed-out");
});

window.addEventListener("hashchange", route);
route();

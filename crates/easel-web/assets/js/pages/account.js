// The account page: the email address and whether it is verified, changing it (a code
// goes to the new address and must come back before anything changes), and the
// notification emails to opt into.

import { api } from "../api.js";
import { announce, field, h } from "../dom.js";
import { clearErrors, describe, formError, showError } from "../errors.js";
import { renameSession, username } from "../session.js";

const NOTIFICATIONS = [
  ["jobFinished", "When a job or generation finishes", "An email when it completes, or fails for good."],
  ["linkExpiry", "Before an image link expires", "A reminder before the 24-hour link to a generated image stops working."],
  ["weeklySummary", "A weekly summary", "Each Monday, what you did the week before (nothing for a quiet week)."],
];

/** `#/account` */
export function render(main, { signal }) {
  const emailBox = h("section", { class: "card", "aria-labelledby": "email-title" }, h("h2", { id: "email-title" }, "Email address"), h("p", { class: "loading" }, "Loading…"));
  const notifyBox = h("section", { class: "card", "aria-labelledby": "notify-title" }, h("h2", { id: "notify-title" }, "Notifications"), h("p", { class: "loading" }, "Loading…"));
  main.append(h("h1", {}, "Account"), h("div", { class: "grid" }, emailBox, notifyBox));

  const load = () =>
    api("GET", "/v1/me/notifications", { signal })
      .then((settings) => {
        emailBox.replaceChildren(h("h2", { id: "email-title" }, "Email address"), ...emailSection(settings, load, signal));
        notifyBox.replaceChildren(h("h2", { id: "notify-title" }, "Notifications"), notificationsForm(settings, signal));
      })
      .catch((error) => {
        if (error.name === "AbortError") return;
        const message = error.code === "not-a-local-account" ? "This account signs in elsewhere; its email is managed there." : describe(error);
        emailBox.replaceChildren(h("h2", { id: "email-title" }, "Email address"), h("p", { class: "notice" }, message));
        notifyBox.remove();
      });
  load();
}

function emailSection(settings, reload, signal) {
  const { email } = settings;
  const status = email.verified
    ? h("p", { "data-testid": "email-status" }, h("strong", {}, username()), " — verified.")
    : h(
        "p",
        { class: "notice", "data-testid": "email-status" },
        h("strong", {}, username()),
        " — not verified yet. ",
        h("a", { href: `#/verify-email?email=${encodeURIComponent(username())}` }, "Enter the code"),
        email.verificationRequired ? " to start generating and processing." : ".",
      );
  if (!settings.emailEnabled) return [status, h("p", { class: "muted" }, "This Easel sends no email, so the address cannot be changed here.")];

  const newEmail = h("input", { type: "email", name: "newEmail", autocomplete: "email", required: true, spellcheck: "false", autocapitalize: "none" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const change = h("button", { type: "submit" }, "Send a code to the new address");
  const changeForm = h(
    "form",
    { novalidate: true, "aria-label": "Change the email address" },
    field("New email address", newEmail, { name: "newEmail" }),
    field("Current password", password, { name: "password" }),
    formError(),
    h("div", { class: "actions" }, change),
  );
  changeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(changeForm);
    change.disabled = true;
    try {
      await api("POST", "/v1/me/email", { body: { newEmail: newEmail.value.trim(), password: password.value }, signal });
      announce("A code is on its way to the new address");
      reload();
    } catch (error) {
      if (error.name === "AbortError") return;
      change.disabled = false;
      showError(changeForm, error, (e) => ({ "invalid-email": "newEmail", "username-exists": "newEmail", "same-email": "newEmail", forbidden: "password" })[e.code] || null);
    }
  });
  if (!email.pendingEmail) return [status, changeForm];

  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, required: true });
  const confirm = h("button", { type: "submit", class: "primary" }, "Change the address");
  const confirmForm = h(
    "form",
    { novalidate: true, "aria-label": "Confirm the new email address" },
    h("p", { class: "notice" }, "We sent a code to ", h("strong", {}, email.pendingEmail), ". Your address changes once you enter it."),
    field("Code", code, { name: "code" }),
    formError(),
    h("div", { class: "actions" }, confirm),
  );
  confirmForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(confirmForm);
    confirm.disabled = true;
    try {
      const changed = await api("POST", "/v1/me/email/verify", { body: { code: code.value.trim() }, signal });
      // The header shows the sign-in name, which is the new address from now on.
      renameSession(changed.username);
      announce(`Your address is now ${changed.username}; sign in with it from now on`);
      reload();
    } catch (error) {
      if (error.name === "AbortError") return;
      confirm.disabled = false;
      showError(confirmForm, error, (e) => (e.code === "invalid-code" ? "code" : null));
    }
  });
  return [status, confirmForm, changeForm];
}

function notificationsForm(settings, signal) {
  const boxes = {};
  const rows = NOTIFICATIONS.map(([key, label, hint]) => {
    const box = h("input", { type: "checkbox", id: `notify-${key}`, name: key });
    box.checked = Boolean(settings.notifications[key]);
    box.disabled = !settings.emailEnabled;
    boxes[key] = box;
    return h("div", { class: "check" }, box, h("label", { for: box.id }, label, h("span", { class: "muted" }, ` — ${hint}`)));
  });
  const save = h("button", { type: "submit", class: "primary", disabled: !settings.emailEnabled }, "Save");
  const saved = h("p", { class: "muted", role: "status" });
  const form = h(
    "form",
    { novalidate: true },
    ...rows,
    settings.emailEnabled ? null : h("p", { class: "muted" }, "This Easel sends no email."),
    formError(),
    h("div", { class: "actions" }, save),
    saved,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    save.disabled = true;
    saved.textContent = "";
    const body = Object.fromEntries(NOTIFICATIONS.map(([key]) => [key, boxes[key].checked]));
    try {
      await api("PUT", "/v1/me/notifications", { body, signal });
      saved.textContent = "Saved.";
      announce("Notification settings saved");
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(form, error);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

// The pages reached from account e-mails, signed in or not: verify an address with its
// code (`#/verify-email`, the link in the sign-up mail fills both fields), ask for a
// password reset code (`#/forgot-password`) and set a new password with it
// (`#/reset-password`). Answers never say whether an address has an account.

import { announce, field, h } from "../dom.js";
import { ApiError, clearErrors, formError, showError } from "../errors.js";
import { isSignedIn, postPublic, username } from "../session.js";

function emailInput(value) {
  return h("input", {
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
    spellcheck: "false",
    autocapitalize: "none",
    value: value || "",
  });
}

function codeInput(value) {
  return h("input", {
    type: "text",
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: 6,
    required: true,
    value: value || "",
  });
}

function card(main, title, intro, ...body) {
  main.append(
    h(
      "section",
      { class: "auth-card card", "aria-labelledby": "auth-title" },
      h("h1", { id: "auth-title" }, title),
      intro ? h("p", {}, intro) : null,
      ...body,
    ),
  );
}

const fieldOf = (error) =>
  ({
    "invalid-email": "email",
    "invalid-code": "code",
    "invalid-password": "password",
  })[error.code] || null;

/** `#/verify-email?email=…&code=…` */
export function renderVerifyEmail(main, { params }) {
  const email = emailInput(params.get("email") || (isSignedIn() ? username() : ""));
  const code = codeInput(params.get("code"));
  const submit = h("button", { type: "submit", class: "primary" }, "Verify");
  const resend = h("button", { type: "button" }, "Send a new code");
  const status = h("p", { class: "notice", role: "status", hidden: true });
  const form = h(
    "form",
    { novalidate: true },
    field("Email", email, { name: "email" }),
    field("Code", code, { name: "code", hint: "The six digits in the email we sent you." }),
    formError(),
    h("div", { class: "actions" }, submit, resend),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      await postPublic("/v1/auth/verify-email", { email: email.value.trim(), code: code.value.trim() });
      form.hidden = true;
      const next = isSignedIn() ? h("a", { href: "#/dashboard" }, "Go to the dashboard") : h("a", { href: "#/signin" }, "Sign in");
      status.replaceChildren("Your email address is verified. ", next);
      status.hidden = false;
      announce("Email address verified");
    } catch (error) {
      showError(form, error, fieldOf);
    } finally {
      submit.disabled = false;
    }
  });
  resend.addEventListener("click", async () => {
    clearErrors(form);
    if (!email.value.trim()) {
      showError(form, new ApiError(400, "invalid-email", "Enter your email address first."), fieldOf);
      return;
    }
    resend.disabled = true;
    try {
      await postPublic("/v1/auth/resend-verification", { email: email.value.trim() });
      status.textContent = "If that address has an unverified account, a new code is on its way.";
      status.hidden = false;
    } catch (error) {
      showError(form, error, fieldOf);
    } finally {
      resend.disabled = false;
    }
  });
  card(main, "Verify your email address", "Enter the code we emailed you when you signed up.", status, form);
}

/** `#/forgot-password` */
export function renderForgotPassword(main, { params, go }) {
  const email = emailInput(params.get("email"));
  const submit = h("button", { type: "submit", class: "primary" }, "Send a code");
  const form = h("form", { novalidate: true }, field("Email", email, { name: "email" }), formError(), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      await postPublic("/v1/auth/forgot-password", { email: email.value.trim() });
      announce("If that address has an account, a code is on its way");
      go(`#/reset-password?email=${encodeURIComponent(email.value.trim())}&sent=1`);
    } catch (error) {
      submit.disabled = false;
      showError(form, error, fieldOf);
    }
  });
  card(
    main,
    "Reset your password",
    "We will email you a code to set a new password with.",
    form,
    h("p", {}, h("a", { href: "#/signin" }, "Back to sign in")),
  );
}

/** `#/reset-password?email=…` */
export function renderResetPassword(main, { params, go }) {
  const email = emailInput(params.get("email"));
  const code = codeInput(params.get("code"));
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Set the new password");
  const form = h(
    "form",
    { novalidate: true },
    field("Email", email, { name: "email" }),
    field("Code", code, { name: "code", hint: "The six digits in the email; valid for 15 minutes." }),
    field("New password", password, {
      name: "password",
      hint: "At least 8 characters with an uppercase and a lowercase letter, a digit and a symbol.",
    }),
    formError(),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      await postPublic("/v1/auth/reset-password", {
        email: email.value.trim(),
        code: code.value.trim(),
        newPassword: password.value,
      });
      announce("Password changed");
      go("#/signin?reason=password-reset");
    } catch (error) {
      submit.disabled = false;
      showError(form, error, fieldOf);
    }
  });
  const sent = params.get("sent") ? "If that address has an account, a code is on its way. " : "";
  card(
    main,
    "Set a new password",
    `${sent}Enter the code from the email and a new password. Every other sign-in of the account ends.`,
    form,
    h("p", {}, h("a", { href: "#/forgot-password" }, "Send another code")),
  );
}

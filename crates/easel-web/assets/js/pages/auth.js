// Sign in and sign up. Wrong credentials and a locked account get their own clear
// messages; while locked, the button waits out the Retry-After with a countdown.

import { announce, field, h } from "../dom.js";
import { ApiError, clearErrors, describe, formError, showError } from "../errors.js";
import { solveChallenge } from "../pow.js";
import { signIn, signUp } from "../session.js";

const REASONS = {
  expired: "Your session has ended. Sign in again.",
  "signed-out": "You are signed out.",
  "signed-up": "Your account is ready. Sign in.",
  "password-reset": "Your password is changed. Sign in with the new one.",
};

function emailInput(autocomplete) {
  return h("input", {
    type: "email",
    name: "email",
    autocomplete,
    required: true,
    spellcheck: "false",
    autocapitalize: "none",
  });
}

function passwordInput(autocomplete) {
  return h("input", { type: "password", name: "password", autocomplete, required: true });
}

function showPasswordToggle(input) {
  const box = h("input", { type: "checkbox", id: `${input.id || "pw"}-show` });
  box.addEventListener("change", () => {
    input.type = box.checked ? "text" : "password";
  });
  return h("div", { class: "check" }, box, h("label", { for: box.id }, "Show password"));
}

function layout(main, title, intro, form, footer) {
  main.append(
    h(
      "section",
      { class: "auth-card card", "aria-labelledby": "auth-title" },
      h("h1", { id: "auth-title" }, title),
      intro,
      form,
      footer,
    ),
  );
}

/** `#/signin` */
export function renderSignIn(main, { params, go }) {
  const email = emailInput("username");
  const password = passwordInput("current-password");
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const alert = formError();
  const notice = params.get("reason") && REASONS[params.get("reason")];
  const form = h(
    "form",
    { novalidate: true, "aria-describedby": "auth-title" },
    field("Email", email, { name: "email" }),
    field("Password", password, { name: "password" }),
    showPasswordToggle(password),
    alert,
    h("div", { class: "actions" }, submit),
  );
  let countdown = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!email.value.trim() || !password.value) {
      showError(form, new ApiError(400, "missing", "Enter your email and password."), () => null);
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      await signIn(email.value.trim(), password.value);
      announce("Signed in");
      const next = params.get("next");
      go(`#/${next && /^[a-z]+$/.test(next) ? next : "dashboard"}`);
    } catch (error) {
      submit.textContent = "Sign in";
      submit.disabled = false;
      showError(form, error, () => null);
      if (error instanceof ApiError && error.code === "invalid-credentials") {
        email.setAttribute("aria-invalid", "true");
        password.setAttribute("aria-invalid", "true");
        password.select();
        password.focus();
      }
      if (error instanceof ApiError && error.code === "too-many-failed-sign-ins") {
        lockCountdown(error);
      }
    }
  });

  // While locked, count down and keep the button disabled; then invite a new try.
  function lockCountdown(error) {
    let left = error.retryAfter || 1;
    submit.disabled = true;
    clearInterval(countdown);
    countdown = setInterval(() => {
      left -= 1;
      if (left <= 0 || !form.isConnected) {
        clearInterval(countdown);
        submit.disabled = false;
        if (form.isConnected) {
          alert.textContent = "You can try to sign in again now.";
        }
        return;
      }
      alert.textContent = describe(new ApiError(429, error.code, error.message, { retryAfter: left }));
    }, 1000);
  }

  layout(
    main,
    "Sign in to Easel",
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    form,
    h(
      "p",
      {},
      h("a", { href: "#/forgot-password" }, "Forgot your password?"),
      " · New here? ",
      h("a", { href: "#/signup" }, "Create an account"),
    ),
  );
}

/** `#/signup` */
export function renderSignUp(main, { go }) {
  const email = emailInput("username");
  const password = passwordInput("new-password");
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  const alert = formError();
  const form = h(
    "form",
    { novalidate: true },
    field("Email", email, { name: "email" }),
    field("Password", password, {
      name: "password",
      hint: "At least 8 characters with an uppercase and a lowercase letter, a digit and a symbol.",
    }),
    showPasswordToggle(password),
    alert,
    h("div", { class: "actions" }, submit),
  );
  // Bot protection: the challenge is solved while the person types (in a worker).
  let challenge;
  const freshChallenge = () => {
    challenge = solveChallenge();
    challenge.catch(() => {});
  };
  freshChallenge();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    submit.textContent = "Checking this browser…";
    const fieldFor = (error) =>
      ({
        "invalid-email": "email",
        "username-exists": "email",
        "invalid-password": "password",
      })[error.code] || null;
    try {
      const altcha = await challenge;
      submit.textContent = "Creating…";
      try {
        await signUp(email.value.trim(), password.value, altcha);
      } catch (error) {
        // An expired challenge is replaced once, without bothering the person.
        if (!(error instanceof ApiError && error.code === "invalid-challenge")) throw error;
        freshChallenge();
        await signUp(email.value.trim(), password.value, await challenge);
      }
    } catch (error) {
      // Whatever happened to the last solution, the next try gets a new one.
      freshChallenge();
      submit.disabled = false;
      submit.textContent = "Create account";
      showError(form, error, fieldFor);
      return;
    }
    try {
      await signIn(email.value.trim(), password.value);
      announce("Account created and signed in");
      go("#/dashboard");
    } catch {
      go("#/signin?reason=signed-up");
    }
  });
  layout(
    main,
    "Create an Easel account",
    null,
    form,
    h("p", {}, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in")),
  );
}

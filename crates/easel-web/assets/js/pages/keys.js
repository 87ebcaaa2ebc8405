// API keys: create one (the full key is shown once, with a copy button), list them,
// revoke one after a confirmation.

import { api } from "../api.js";
import { announce, confirmDialog, copyText, field, formatDate, h } from "../dom.js";
import { clearErrors, describe, formError, showError } from "../errors.js";

/** `#/keys` */
export function render(main, { signal }) {
  const name = h("input", { type: "text", name: "name", maxlength: 100, required: true, autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create key");
  const alert = formError();
  const created = h("div", { class: "created-key", hidden: true });
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    field("Key name", name, { name: "name", hint: "Where the key is used, e.g. “backup script”." }),
    h("div", { class: "actions" }, submit),
    alert,
  );
  const list = h("div", { class: "key-list" }, h("p", { class: "loading" }, "Loading…"));
  main.append(
    h("h1", {}, "API keys"),
    h("p", { class: "lead" }, "Keys let scripts call the API as you: send one as ", h("code", {}, "x-api-key"), " or ", h("code", {}, "Authorization: Bearer"), "."),
    h("section", { class: "card", "aria-labelledby": "new-key-title" }, h("h2", { id: "new-key-title" }, "New key"), form, created),
    h("section", { class: "card", "aria-labelledby": "keys-title" }, h("h2", { id: "keys-title" }, "Your keys"), list),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    try {
      const key = await api("POST", "/v1/keys", { body: { name: name.value }, signal });
      name.value = "";
      showCreated(key);
      await refresh();
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(form, error, (e) => (e.code === "invalid-key-name" || e.code === "invalid-json" ? "name" : null));
    } finally {
      submit.disabled = false;
    }
  });

  function showCreated(key) {
    const value = h("input", { type: "text", readonly: true, value: key.key, class: "mono", "aria-label": "The new key", "data-testid": "new-key" });
    const copy = h("button", { type: "button" }, "Copy");
    const copied = h("span", { class: "muted", role: "status" });
    copy.addEventListener("click", async () => {
      const ok = await copyText(key.key, value);
      copied.textContent = ok ? "Copied to the clipboard." : "Select the key and copy it.";
    });
    created.replaceChildren(
      h("p", { class: "notice" }, h("strong", {}, `Key “${key.name}” created. `), "Copy it now: it is shown only once."),
      h("div", { class: "copy-row" }, value, copy),
      copied,
    );
    created.hidden = false;
    value.focus();
    value.select();
    announce(`Key ${key.name} created. Copy it now; it is shown only once.`);
  }

  async function refresh() {
    try {
      const { keys } = await api("GET", "/v1/keys", { signal });
      list.replaceChildren(keys.length ? keyTable(keys) : h("p", { class: "muted" }, "No keys yet."));
    } catch (error) {
      if (error.name === "AbortError") return;
      list.replaceChildren(h("p", { class: "form-error", role: "alert" }, describe(error)));
    }
  }

  function keyTable(keys) {
    return h(
      "table",
      { class: "keys" },
      h("thead", {}, h("tr", {}, ["Name", "Key", "Created", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        keys.map((key) => {
          const revoke = key.revokedAt
            ? null
            : h("button", { type: "button", class: "danger small", "aria-label": `Revoke key ${key.name}` }, "Revoke");
          revoke?.addEventListener("click", async () => {
            if (!(await confirmDialog(`Revoke the key “${key.name}”? Scripts using it stop working at once.`, "Revoke"))) return;
            try {
              await api("DELETE", `/v1/keys/${encodeURIComponent(key.id)}`, { signal });
              announce(`Key ${key.name} revoked`);
              await refresh();
              list.querySelector("h2, table")?.focus?.();
            } catch (error) {
              if (error.name !== "AbortError") window.alert(describe(error));
            }
          });
          return h(
            "tr",
            { "data-key": key.id },
            h("th", { scope: "row" }, key.name),
            h("td", {}, h("code", {}, `${key.prefix}_…`)),
            h("td", {}, formatDate(key.createdAt)),
            h("td", {}, key.revokedAt ? h("span", { class: "badge muted" }, `Revoked ${formatDate(key.revokedAt)}`) : h("span", { class: "badge ok" }, "Active")),
            h("td", {}, revoke),
          );
        }),
      ),
    );
  }

  refresh();
}

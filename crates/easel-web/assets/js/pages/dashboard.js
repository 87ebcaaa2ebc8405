// The dashboard: the caller's plan, the quota left in each class, and a chart of the
// last 7 days' usage. GET /v1/me has the plan and quotas; the API has no per-day usage
// route (see NEEDS.md), so the chart counts the request log (generations and edits that
// reached an engine) and the caller's process jobs, per local day.

import { api } from "../api.js";
import { formatDate, h } from "../dom.js";
import { describe } from "../errors.js";

const CLASSES = [
  ["generate", "Generations"],
  ["edit", "Edits"],
  ["process", "Processing jobs"],
];
const EDIT_TASKS = new Set(["INPAINTING", "OUTPAINTING", "BACKGROUND_REMOVAL"]);
const PERIOD_LABEL = { day: "today", week: "this week", month: "this month" };
const DAYS = 7;

/** `#/dashboard` */
export function render(main, { signal }) {
  const planBox = h("section", { class: "card", "aria-labelledby": "plan-title" }, h("h2", { id: "plan-title" }, "Plan"), h("p", { class: "loading" }, "Loading…"));
  const quotaBox = h("section", { class: "card", "aria-labelledby": "quota-title" }, h("h2", { id: "quota-title" }, "Remaining quota"), h("p", { class: "loading" }, "Loading…"));
  const chartBox = h("section", { class: "card wide", "aria-labelledby": "usage-title" }, h("h2", { id: "usage-title" }, "Usage, last 7 days"), h("p", { class: "loading" }, "Loading…"));
  main.append(
    h("h1", {}, "Dashboard"),
    h("div", { class: "grid dashboard" }, planBox, quotaBox, chartBox),
    h(
      "nav",
      { class: "quick", "aria-label": "Start something" },
      h("a", { class: "button primary", href: "#/generate" }, "Generate an image"),
      h("a", { class: "button", href: "#/edit" }, "Edit an image"),
      h("a", { class: "button", href: "#/process" }, "Process photos"),
    ),
  );

  api("GET", "/v1/me", { signal })
    .then((me) => {
      const email = me.account && me.account.email;
      if (email && !email.verified) {
        const verify = `#/verify-email?email=${encodeURIComponent(me.username || "")}`;
        main.querySelector("h1").after(
          h(
            "p",
            { class: "notice", role: "status", "data-testid": "verify-banner" },
            "Verify your email address: we sent a code to ",
            h("strong", {}, me.username || "your address"),
            ". ",
            h("a", { href: verify }, "Enter the code"),
            email.verificationRequired ? " to start generating and processing." : ".",
          ),
        );
      }
      planBox.replaceChildren(h("h2", { id: "plan-title" }, "Plan"), planDetails(me));
      quotaBox.replaceChildren(h("h2", { id: "quota-title" }, "Remaining quota"), quotaList(me.quotas || {}));
    })
    .catch((error) => {
      if (error.name === "AbortError") return;
      planBox.append(h("p", { class: "form-error", role: "alert" }, describe(error)));
      quotaBox.querySelector(".loading")?.remove();
    });

  usageByDay(signal)
    .then((days) => chartBox.replaceChildren(h("h2", { id: "usage-title" }, "Usage, last 7 days"), chart(days), table(days)))
    .catch((error) => {
      if (error.name === "AbortError") return;
      chartBox.replaceChildren(h("h2", { id: "usage-title" }, "Usage, last 7 days"), h("p", { class: "form-error", role: "alert" }, describe(error)));
    });
}

function planDetails(me) {
  const plan = me.plan || {};
  const rate = plan.ratePerSecond;
  return h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Signed in as"),
    h("dd", {}, me.username || me.userId, me.admin ? " (administrator)" : ""),
    h("dt", {}, "Plan"),
    h("dd", { "data-testid": "plan-name" }, plan.name || "none"),
    rate ? [h("dt", {}, "Request rate"), h("dd", {}, `${rateText(rate)}, bursts of ${plan.burst}`)] : null,
  );
}

function rateText(perSecond) {
  if (perSecond >= 1) return `${Math.round(perSecond * 10) / 10} per second`;
  if (perSecond * 60 >= 1) return `${Math.round(perSecond * 60)} per minute`;
  return `${Math.round(perSecond * 3600)} per hour`;
}

function quotaList(quotas) {
  return h(
    "ul",
    { class: "quotas" },
    CLASSES.map(([key, label]) => {
      const periods = quotas[key];
      if (!periods || !Object.keys(periods).length) {
        return h("li", { "data-quota": key }, h("strong", {}, label), h("span", { class: "muted" }, " unlimited"));
      }
      return h(
        "li",
        { "data-quota": key },
        h("strong", {}, label),
        Object.entries(periods).map(([period, q]) => {
          const id = `quota-${key}-${period}`;
          return h(
            "div",
            { class: "quota" },
            h("label", { for: id }, `${q.remaining} of ${q.limit} left ${PERIOD_LABEL[period] || period}`),
            h("meter", { id, min: 0, max: q.limit, low: q.limit * 0.2, high: q.limit * 0.5, optimum: q.limit, value: q.remaining }),
            h("span", { class: "muted small" }, `Resets ${formatDate(q.resetsAt)}`),
          );
        }),
      );
    }),
  );
}

function dayKey(date) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

async function usageByDay(signal) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const start = new Date(today);
  start.setDate(start.getDate() - (DAYS - 1));
  const days = [];
  for (let i = 0; i < DAYS; i += 1) {
    const d = new Date(start);
    d.setDate(start.getDate() + i);
    days.push({ key: dayKey(d), date: d, generate: 0, edit: 0, process: 0 });
  }
  const byKey = new Map(days.map((d) => [d.key, d]));
  const count = (iso, cls) => {
    const when = new Date(iso);
    if (when < start) return false;
    const day = byKey.get(dayKey(when));
    if (day) day[cls] += 1;
    return true;
  };
  await pages("/v1/requests", (page) => page.items, signal, (record) => {
    if (record.status === "succeeded" || record.status === "failed") {
      return count(record.at, EDIT_TASKS.has(record.taskType) ? "edit" : "generate");
    }
    return new Date(record.at) >= start;
  });
  await pages("/v1/jobs", (page) => page.jobs, signal, (job) => {
    if (job.kind === "process") return count(job.createdAt, "process");
    return new Date(job.createdAt) >= start;
  });
  return days;
}

/** Reads newest-first pages until `visit` returns false (older than the window). */
async function pages(path, itemsOf, signal, visit) {
  let cursor = null;
  for (let page = 0; page < 20; page += 1) {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const body = await api("GET", `${path}?${query}`, { signal });
    for (const item of itemsOf(body)) {
      if (!visit(item)) return;
    }
    cursor = body.nextCursor;
    if (!cursor) return;
  }
}

const SERIES = CLASSES;

// Stacked bars in HTML (not SVG) so labels keep their size at any width; heights are
// set through the CSSOM, which the CSP allows (no inline style attributes).
function chart(days) {
  const max = Math.max(1, ...days.map((d) => d.generate + d.edit + d.process));
  const total = days.reduce((n, d) => n + d.generate + d.edit + d.process, 0);
  const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short" });
  const columns = days.map((day) => {
    const stack = h("div", { class: "stack" });
    for (const [key, label] of SERIES) {
      if (!day[key]) continue;
      const segment = h("span", { class: `segment ${key}`, title: `${day[key]} ${label.toLowerCase()}` });
      segment.style.height = `${(day[key] / max) * 100}%`;
      stack.append(segment);
    }
    const sum = day.generate + day.edit + day.process;
    return h("div", { class: "column" }, h("span", { class: "sum" }, sum ? String(sum) : ""), stack, h("span", { class: "day" }, weekday.format(day.date)));
  });
  const bars = h(
    "div",
    {
      class: "bars",
      role: "img",
      "aria-label": `Bar chart of the last 7 days: ${total} operations in all. The table below has the numbers.`,
    },
    columns,
  );
  const legend = h(
    "ul",
    { class: "legend" },
    SERIES.map(([key, label]) => h("li", {}, h("span", { class: `swatch ${key}`, "aria-hidden": "true" }), label)),
  );
  return h(
    "figure",
    { class: "chart-figure" },
    bars,
    total ? null : h("p", { class: "muted small" }, "Nothing yet this week."),
    legend,
  );
}

function table(days) {
  const format = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  return h(
    "details",
    { class: "usage-table" },
    h("summary", {}, "Show the numbers"),
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, "Operations per day"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), SERIES.map(([, label]) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        days.map((d) => h("tr", {}, h("th", { scope: "row" }, format.format(d.date)), SERIES.map(([key]) => h("td", {}, String(d[key]))))),
      ),
    ),
  );
}

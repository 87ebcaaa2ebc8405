// Admin (administrators only): the alarms with their state, reason and latest
// transitions; the dead jobs grouped by error code, each group redriven with one click
// (after a confirmation), as SQS's dead-letter redrive does.

import { api } from "../api.js";
import { announce, confirmDialog, formatDate, h } from "../dom.js";
import { describe, formError, showError } from "../errors.js";

/** `#/admin` */
export function render(main, { signal }) {
  const alarms = h("div", { "data-testid": "alarms" }, h("p", { class: "loading" }, "Loading…"));
  const dead = h("div", { "data-testid": "dead-jobs" }, h("p", { class: "loading" }, "Loading…"));
  const alert = formError();
  main.append(
    h("h1", {}, "Administration"),
    alert,
    h("section", { class: "card", "aria-labelledby": "alarms-title" }, h("h2", { id: "alarms-title" }, "Alarms"), alarms),
    h("section", { class: "card", "aria-labelledby": "dead-title" }, h("h2", { id: "dead-title" }, "Dead jobs"), dead),
  );

  async function loadAlarms() {
    const list = await api("GET", "/v1/admin/alarms", { signal });
    if (!list.alarms.length) {
      alarms.replaceChildren(h("p", { class: "muted" }, "No alarms are configured ([[alarms]] in the configuration)."));
      return;
    }
    const rows = list.alarms.map((a) =>
      h(
        "tr",
        { "data-alarm": a.name },
        h("th", { scope: "row" }, a.name),
        h("td", {}, h("code", {}, `${a.metric} ${a.comparison} ${a.threshold}`), h("span", { class: "muted small" }, ` ${a.datapointsToAlarm} of ${a.evaluationPeriods} × ${a.periodSecs} s`)),
        h("td", {}, h("span", { class: `badge state-${a.state.toLowerCase()}`, "data-state": a.state }, a.state.replace("_", " "))),
        h("td", {}, a.reason, a.since ? h("span", { class: "muted small" }, ` since ${formatDate(a.since)}`) : ""),
      ),
    );
    const history = list.history.slice(0, 10).map((t) => h("li", {}, `${formatDate(t.at)} — ${t.name}: ${t.from} → ${t.to} (${t.reason})`));
    alarms.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Alarm"), h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Why"))), h("tbody", {}, rows)),
      ),
      h("h3", {}, "Latest changes"),
      history.length ? h("ul", { class: "history-list small" }, history) : h("p", { class: "muted" }, "No changes yet."),
    );
  }

  async function loadDead() {
    const page = await api("GET", "/v1/jobs?status=FAILED&limit=100", { signal });
    const groups = new Map();
    for (const job of page.jobs) {
      const code = job.errorCode || "unknown";
      if (!groups.has(code)) groups.set(code, []);
      groups.get(code).push(job);
    }
    if (!groups.size) {
      dead.replaceChildren(h("p", { class: "muted", "data-testid": "no-dead-jobs" }, "No dead jobs."));
      return;
    }
    const items = [...groups.entries()].map(([code, jobs]) => {
      const button = h("button", { type: "button", "data-redrive": code }, `Redrive ${jobs.length}`);
      button.addEventListener("click", () => redrive(code, jobs.length, button));
      return h(
        "li",
        { "data-error-code": code },
        h("code", {}, code),
        ` — ${jobs.length} job${jobs.length === 1 ? "" : "s"}, the latest: ${jobs[0].error || ""} `,
        button,
      );
    });
    dead.replaceChildren(h("ul", { class: "dead-list" }, items));
  }

  async function redrive(code, count, button) {
    const sure = await confirmDialog(`Put ${count} dead job${count === 1 ? "" : "s"} with error ${code} back in the queue?`, "Redrive");
    if (!sure) return;
    button.disabled = true;
    try {
      const body = code === "unknown" ? { all: true } : { errorCode: code };
      const result = await api("POST", "/v1/admin/jobs/redrive", { body, signal });
      announce(`${result.redriven} job${result.redriven === 1 ? "" : "s"} back in the queue`);
      await loadDead();
    } catch (error) {
      if (error.name !== "AbortError") showError(main, error);
      button.disabled = false;
    }
  }

  Promise.all([loadAlarms(), loadDead()]).catch((error) => {
    if (error.name === "AbortError") return;
    alert.textContent = describe(error);
    alert.hidden = false;
  });
}

// The risk alert board: filters (status, severity, rule, client, account manager), exposure
// totals by severity, new and changed alerts live from GET /v1/alerts/stream (server-sent
// events, same-origin cookie) without a reload, and acknowledge / resolve for the roles that may.
import { knownPeople, nameOf } from "../people.js";
import {
  dateTime, ensureStyles, errorText, h, link, money, request, session, words,
} from "./am_common.js";

export const title = "Alerts";

const SEVERITIES = ["critical", "high", "medium", "low"];
const RULES = ["LOSS_POSITION", "BELOW_FLOOR", "RAISE_ABSORBED", "BYPASS_THREAT", "COMMITMENT_SHORTFALL",
  "MARGIN_EROSION", "RELATIONSHIP_STRAIN", "RELATIONSHIP_NEGLECT", "OT_MARGIN_LEAK", "HOURS_SHORTFALL",
  "CLIENT_HEALTH_FALLING"];
const FILTERS = ["status", "severity", "rule", "client_id", "account_manager_id", "contract_id"];

let live = null; // the one open EventSource of this page

export async function render(root, params, ctx) {
  ensureStyles();
  if (live) live.close();
  const me = await session(ctx);
  const reads = me.role === "finance" || me.role === "admin";
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const k of FILTERS) if (q.get(k)) filters[k] = q.get(k);
  if (!q.has("status")) filters.status = "open";
  if (q.get("status") === "all") delete filters.status;

  const byId = new Map(); // alert_id -> alert, the rows shown
  const tbody = h("tbody", {});
  const totalsBox = h("ul", { class: "am-summary am-totals", "aria-label": "Exposure by severity" });
  const liveState = h("span", { class: "am-live", id: "live-state" }, "Connecting…");
  const announcer = h("p", { class: "am-sr", "aria-live": "polite", id: "live-announcer" });
  const message = h("p", { class: "am-form-error", role: "alert" });

  const mayAck = (a) => a.status === "open" && (reads || (me.role === "account_manager" && (a.account_manager_id ?? me.account_manager_id) === me.account_manager_id));
  const mayResolve = (a) => reads && (a.status === "open" || a.status === "acknowledged");

  function matches(a) {
    for (const [k, v] of Object.entries(filters)) if (a[k] !== undefined && a[k] !== v) return false;
    return true;
  }

  async function act(a, verb) {
    message.textContent = "";
    const r = await request(ctx, "POST", `/v1/alerts/${encodeURIComponent(a.alert_id)}/${verb}`);
    if (!r.ok) {
      message.textContent = `Could not ${verb} ${a.rule} on ${a.contract_id}: ${errorText(r.body, r.status)}`;
      return;
    }
    upsert(r.body, false);
    scheduleTotals();
  }

  function row(a, fresh) {
    const actions = [
      mayAck(a) ? h("button", { type: "button", class: "am-button am-button-small", onclick: () => act(a, "acknowledge"), "aria-label": `Acknowledge ${a.rule} on ${a.contract_id}` }, "Acknowledge") : null,
      mayResolve(a) ? h("button", { type: "button", class: "am-button am-button-small am-button-quiet", onclick: () => act(a, "resolve"), "aria-label": `Resolve ${a.rule} on ${a.contract_id}` }, "Resolve") : null,
    ].filter(Boolean);
    return h(
      "tr",
      { "data-alert": a.alert_id, "data-status": a.status, class: `am-alert-row am-alert-${a.severity}${fresh ? " am-fresh" : ""}` },
      h("td", {}, h("span", { class: `am-sev am-sev-${a.severity}` }, a.severity),
        h("div", { class: "am-rule" }, a.rule), h("div", { class: "am-muted" }, a.basis)),
      h("td", {}, h("div", {}, a.client_name || "—"),
        link(`${reads ? "/app/finance/contracts/" : "/app/contracts/"}${encodeURIComponent(a.contract_id)}`, a.contract_id),
        a.assignment_id ? h("span", { class: "am-muted" }, ` · ${a.assignment_id}`) : null),
      h("td", { class: "num" }, a.exposure ? money(a.exposure) : "—"),
      h("td", { class: "am-message" }, a.message),
      h("td", { class: "am-when" }, dateTime(a.raised_at)),
      h("td", { class: "am-status-cell" }, h("span", { class: `am-astatus am-astatus-${a.status}` }, words(a.status)),
        a.acknowledged_by ? h("div", { class: "am-muted" }, `ack. by ${nameOf(a.acknowledged_by)}`) : null,
        a.resolved_by ? h("div", { class: "am-muted" }, `resolved by ${nameOf(a.resolved_by)}`) : null),
      h("td", { class: "am-row-actions" }, actions.length ? actions : h("span", { class: "am-muted" }, "—")),
    );
  }

  function upsert(a, fromStream) {
    const old = tbody.querySelector(`tr[data-alert="${CSS.escape(a.alert_id)}"]`);
    if (!matches(a)) {
      if (old) old.remove();
      byId.delete(a.alert_id);
      emptyState();
      return;
    }
    const isNew = !byId.has(a.alert_id);
    byId.set(a.alert_id, a);
    const tr = row(a, fromStream && isNew);
    if (old) old.replaceWith(tr);
    else tbody.prepend(tr);
    if (fromStream) announcer.textContent = isNew ? `New ${a.severity} alert ${a.rule} on ${a.contract_id}` : `${a.rule} on ${a.contract_id} is now ${a.status}`;
    emptyState();
  }

  function emptyState() {
    const empty = tbody.querySelector("tr.am-empty");
    if (byId.size === 0 && !empty) tbody.append(h("tr", { class: "am-empty" }, h("td", { colspan: 7 }, "No alert matches these filters.")));
    if (byId.size > 0 && empty) empty.remove();
  }

  function query() {
    const p = new URLSearchParams(filters);
    return p.toString();
  }

  function showTotals(totals) {
    totalsBox.replaceChildren(
      ...SEVERITIES.map((s) =>
        h("li", { class: `am-card am-total am-total-${s}`, "data-severity": s },
          h("span", { class: `am-sev am-sev-${s}` }, s),
          h("strong", { class: "am-total-exposure" }, money(totals[s].exposure)),
          h("span", { class: "am-muted" }, `${totals[s].count} alert${totals[s].count === 1 ? "" : "s"}`)),
      ),
    );
  }

  let totalsTimer = null;
  function scheduleTotals() {
    clearTimeout(totalsTimer);
    totalsTimer = setTimeout(async () => {
      const r = await request(ctx, "GET", `/v1/alerts?${query()}&limit=1`);
      if (r.ok) showTotals(r.body.totals);
    }, 250);
  }

  const PAGE = 50;
  let loaded = 0;
  const more = h("button", { type: "button", class: "am-button am-button-quiet am-more", hidden: true }, "Show older alerts");
  more.addEventListener("click", async () => {
    const r = await request(ctx, "GET", `/v1/alerts?${query()}&limit=${PAGE}&offset=${loaded}`);
    if (!r.ok) return;
    for (const a of r.body.alerts) {
      if (byId.has(a.alert_id) || !matches(a)) continue;
      byId.set(a.alert_id, a);
      tbody.append(row(a, false));
    }
    loaded += r.body.alerts.length;
    more.hidden = r.body.alerts.length < PAGE;
    emptyState();
  });

  async function load() {
    const r = await request(ctx, "GET", `/v1/alerts?${query()}&limit=${PAGE}`);
    if (!r.ok) {
      message.textContent = errorText(r.body, r.status);
      return;
    }
    byId.clear();
    tbody.replaceChildren();
    for (const a of r.body.alerts.slice().reverse()) upsert(a, false);
    loaded = r.body.alerts.length;
    more.hidden = loaded < PAGE;
    emptyState();
    showTotals(r.body.totals);
  }

  let shown = false; // the app attaches the page once render returns
  const gone = () => {
    if (root.isConnected) shown = true;
    return shown && !root.isConnected;
  };

  function connect() {
    const es = new EventSource("/v1/alerts/stream");
    live = es;
    // The app has no unmount hook: once the board has left the page, the stream is closed.
    const watch = setInterval(() => {
      if (gone() || es.readyState === EventSource.CLOSED) {
        es.close();
        clearInterval(watch);
      }
    }, 2000);
    es.addEventListener("open", () => { liveState.textContent = "Live"; liveState.dataset.state = "live"; });
    es.addEventListener("error", () => {
      if (gone()) { es.close(); return; }
      liveState.textContent = "Reconnecting…";
      liveState.dataset.state = "down";
    });
    // The service ends the stream when the session or token that opened it has ended.
    es.addEventListener("end", () => {
      es.close();
      liveState.textContent = "Signed out: sign in again for live alerts";
      liveState.dataset.state = "down";
    });
    es.addEventListener("alert", (e) => {
      if (gone()) { es.close(); return; }
      upsert(JSON.parse(e.data), true);
      scheduleTotals();
    });
  }

  const select = (name, label, options, withAll) =>
    h("div", { class: "am-field" },
      h("label", { for: `flt-${name}` }, label),
      h("select", { id: `flt-${name}`, name },
        withAll ? h("option", { value: "" }, "All") : null,
        options.map((o) => h("option", { value: o, selected: filters[name] === o }, words(o)))));
  const text = (name, label, list) =>
    h("div", { class: "am-field" },
      h("label", { for: `flt-${name}` }, label),
      h("input", { id: `flt-${name}`, name, type: "text", value: filters[name] || "", autocomplete: "off", list: list ? `flt-${name}-list` : null }),
      // People are picked by name; the filter is their id.
      list ? h("datalist", { id: `flt-${name}-list` }, list.map(([id, n]) => h("option", { value: id }, n))) : null);

  const filterForm = h(
    "form",
    { class: "am-filters", role: "search", "aria-label": "Filter alerts" },
    select("status", "Status", ["open", "acknowledged", "resolved"], true),
    select("severity", "Severity", SEVERITIES, true),
    select("rule", "Rule", RULES, true),
    text("client_id", "Client id"),
    reads ? text("account_manager_id", "Account manager", knownPeople()) : null,
    text("contract_id", "Contract id"),
    h("div", { class: "am-field am-field-actions" }, h("button", { type: "submit", class: "am-button" }, "Apply")),
  );
  filterForm.querySelector("#flt-status").value = filters.status || "";
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of FILTERS) {
      const el = filterForm.querySelector(`[name="${k}"]`);
      if (!el) continue;
      if (el.value.trim()) filters[k] = el.value.trim();
      else delete filters[k];
    }
    const url = new URL(location.href);
    url.search = new URLSearchParams({ ...filters, ...(filters.status ? {} : { status: "all" }) }).toString();
    history.replaceState(history.state, "", url);
    load();
  });
  for (const el of filterForm.querySelectorAll("select")) el.addEventListener("change", () => filterForm.requestSubmit());

  root.replaceChildren(
    h(
      "div",
      { class: "am-page" },
      h("header", { class: "am-head" }, h("h1", {}, "Alerts"),
        h("p", { class: "am-muted" }, "Contract-risk alerts as they are raised. ", liveState,
          reads ? " You may acknowledge and resolve." : " You may acknowledge alerts on your contracts; finance resolves them.")),
      filterForm,
      totalsBox,
      message,
      announcer,
      h("div", { class: "am-table-wrap" },
        h("table", { class: "am-table am-board" },
          h("caption", { class: "am-sr" }, "Alerts, newest first"),
          h("thead", {}, h("tr", {}, ["Severity and rule", "Client and contract", "Exposure", "Message", "Raised", "Status", ""]
            .map((t) => h("th", { scope: "col" }, t || h("span", { class: "am-sr" }, "Actions"))))),
          tbody)),
      more,
    ),
  );
  connect(); // first: nothing changed between the list and the stream is missed
  await load();
  return () => { if (live) live.close(); live = null; };
}

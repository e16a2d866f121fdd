// The risk alert board: filters (status, severity, rule, client, account manager), exposure
// totals by severity, new and changed alerts live from GET /v1/alerts/stream (server-sent
// events, same-origin cookie) without a reload, and acknowledge / resolve for the roles that may.
// Rule names, severities and statuses are the API's (GET /v1/schema/alerts).
import { knownPeople, nameOf } from "../people.js";
import { api } from "../api.js";
import { el as h } from "../dom.js";
import { dateTime, money, words } from "../format.js";
import { latestOnly, link, severityBadge } from "../components.js";
import { alertWords } from "../schema.js";

export const title = "Alerts";

const FILTERS = ["status", "severity", "rule", "client_id", "account_manager_id", "contract_id"];
const PAGE = 50;
// An alert's status only moves forward: of two copies of one alert, the one further on is newer.
const RANK = { open: 0, acknowledged: 1, resolved: 2 };

let live = null; // the one open EventSource of this page

/** The filters in the address; open alerts unless it says status=all. */
function readFilters() {
  const q = new URLSearchParams(location.search);
  const filters = {};
  for (const k of FILTERS) if (q.get(k)) filters[k] = q.get(k);
  if (!q.has("status")) filters.status = "open";
  if (q.get("status") === "all") delete filters.status;
  return filters;
}

/** The board: its rows (one per alert shown), totals, and what changes them. */
class Board {
  constructor(me, filters, severities) {
    this.me = me;
    this.reads = me.role === "finance" || me.role === "admin";
    this.filters = filters;
    this.severities = severities;
    this.byId = new Map(); // alert_id -> alert, the rows shown
    this.loaded = 0;
    this.tbody = h("tbody", {});
    this.totalsBox = h("ul", { class: "am-summary am-totals", "aria-label": "Exposure by severity" });
    this.announcer = h("p", { class: "visually-hidden", "aria-live": "polite", id: "live-announcer" });
    this.message = h("p", { class: "form-error", role: "alert" });
    this.more = h("button", { type: "button", class: "btn am-more", hidden: true, onclick: () => this.loadMore() }, "Show older alerts");
    // Answers can come in another order than asked (a slow list, a stream that is faster):
    // what the stream or an action brought is kept, numbered as it came, so that an answer
    // read before it cannot undo it; only the latest load and totals paint.
    this.latest = new Map(); // alert_id -> {alert, n}
    this.arrivals = 0;
    // Only the latest load paints; the board's table (render puts it in first) is busy meanwhile.
    this.latestLoad = latestOnly(() => [this.tbody.parentElement].filter(Boolean));
    this.totalsAsked = 0;
    this.totalsShown = 0;
  }

  mayAck(a) {
    const { role, account_manager_id: mine } = this.me;
    return a.status === "open" && (this.reads || (role === "account_manager" && (a.account_manager_id ?? mine) === mine));
  }

  mayResolve(a) {
    return this.reads && (a.status === "open" || a.status === "acknowledged");
  }

  matches(a) {
    for (const [k, v] of Object.entries(this.filters)) if (a[k] !== undefined && a[k] !== v) return false;
    return true;
  }

  query(extra) {
    return `/v1/alerts?${new URLSearchParams({ ...this.filters, ...extra })}`;
  }

  async act(a, verb) {
    this.message.textContent = "";
    const r = await api.answer("POST", `/v1/alerts/${encodeURIComponent(a.alert_id)}/${verb}`);
    if (!r.ok) {
      this.message.textContent = `Could not ${verb} ${a.rule} on ${a.contract_id}: ${r.message}`;
      return;
    }
    this.arrived(r.body, false);
    this.scheduleTotals();
  }

  row(a, fresh) {
    const button = (verb, label, cls) => h("button", { type: "button", class: cls, onclick: () => this.act(a, verb), "aria-label": `${label} ${a.rule} on ${a.contract_id}` }, label);
    const actions = [
      this.mayAck(a) ? button("acknowledge", "Acknowledge", "btn btn-primary btn-small") : null,
      this.mayResolve(a) ? button("resolve", "Resolve", "btn btn-small") : null,
    ].filter(Boolean);
    return h("tr", { "data-alert": a.alert_id, "data-status": a.status, class: `am-alert-row${fresh ? " am-fresh" : ""}` },
      h("td", {}, severityBadge(a.severity), h("div", { class: "am-rule" }, a.rule), h("div", { class: "muted small" }, a.basis)),
      h("td", {}, h("div", {}, a.client_name || "—"),
        link(`${this.reads ? "/app/finance/contracts/" : "/app/contracts/"}${encodeURIComponent(a.contract_id)}`, a.contract_id),
        a.assignment_id ? h("span", { class: "muted small" }, ` · ${a.assignment_id}`) : null),
      h("td", { class: "num" }, a.exposure ? money(a.exposure) : "—"),
      h("td", { class: "am-message" }, a.message),
      h("td", { class: "am-when" }, dateTime(a.raised_at)),
      h("td", { class: "am-status-cell" }, h("span", { class: `am-astatus am-astatus-${a.status}` }, words(a.status)),
        a.acknowledged_by ? h("div", { class: "muted small" }, `ack. by ${nameOf(a.acknowledged_by)}`) : null,
        a.resolved_by ? h("div", { class: "muted small" }, `resolved by ${nameOf(a.resolved_by)}`) : null),
      h("td", { class: "am-row-actions" }, actions.length ? actions : h("span", { class: "muted small" }, "—")));
  }

  /** The newest copy known of alert `a`: itself, or one the stream, an action or the board
   * already has that is further on. */
  newest(a) {
    let best = a;
    for (const b of [this.latest.get(a.alert_id)?.alert, this.byId.get(a.alert_id)]) {
      if (b && RANK[b.status] > RANK[best.status]) best = b;
    }
    return best;
  }

  /** A change the stream or an action brought: remembered, then shown. */
  arrived(a, fromStream) {
    const known = this.latest.get(a.alert_id);
    if (!known || RANK[a.status] >= RANK[known.alert.status]) {
      this.latest.set(a.alert_id, { alert: a, n: ++this.arrivals });
    }
    this.upsert(a, fromStream);
  }

  upsert(given, fromStream) {
    const a = this.newest(given);
    const old = this.tbody.querySelector(`tr[data-alert="${CSS.escape(a.alert_id)}"]`);
    if (!this.matches(a)) {
      if (old) old.remove();
      this.byId.delete(a.alert_id);
      this.emptyState();
      return;
    }
    const isNew = !this.byId.has(a.alert_id);
    this.byId.set(a.alert_id, a);
    const tr = this.row(a, fromStream && isNew);
    if (old) old.replaceWith(tr);
    else this.tbody.prepend(tr);
    if (fromStream) this.announcer.textContent = isNew ? `New ${a.severity} alert ${a.rule} on ${a.contract_id}` : `${a.rule} on ${a.contract_id} is now ${a.status}`;
    this.emptyState();
  }

  emptyState() {
    const empty = this.tbody.querySelector("tr.am-empty");
    if (this.byId.size === 0 && !empty) this.tbody.append(h("tr", { class: "am-empty" }, h("td", { colspan: 7 }, "No alert matches these filters.")));
    if (this.byId.size > 0 && empty) empty.remove();
  }

  /** Totals read as the `ticket`-th asked: shown unless a later read's are already. */
  showTotals(totals, ticket) {
    if (ticket < this.totalsShown) return;
    this.totalsShown = ticket;
    this.totalsBox.replaceChildren(...this.severities.map((s) =>
      h("li", { class: `card am-total am-total-${s}`, "data-severity": s },
        severityBadge(s),
        h("strong", { class: "am-total-exposure" }, money(totals[s].exposure)),
        h("span", { class: "muted small" }, `${totals[s].count} alert${totals[s].count === 1 ? "" : "s"}`))));
  }

  scheduleTotals() {
    clearTimeout(this.totalsTimer);
    this.totalsTimer = setTimeout(async () => {
      const ticket = ++this.totalsAsked;
      const r = await api.answer("GET", this.query({ limit: 1 }));
      if (r.ok) this.showTotals(r.body.totals, ticket);
    }, 250);
  }

  async loadMore() {
    const r = await api.answer("GET", this.query({ limit: PAGE, offset: this.loaded }));
    if (!r.ok) return;
    for (const listed of r.body.alerts) {
      const a = this.newest(listed);
      if (this.byId.has(a.alert_id) || !this.matches(a)) continue;
      this.byId.set(a.alert_id, a);
      this.tbody.append(this.row(a, false));
    }
    this.loaded += r.body.alerts.length;
    this.more.hidden = r.body.alerts.length < PAGE;
    this.emptyState();
  }

  async load() {
    const from = this.arrivals;
    const ticket = ++this.totalsAsked;
    const answer = await this.latestLoad(() => api.answer("GET", this.query({ limit: PAGE })));
    if (!answer.latest) return; // a later load (other filters) paints instead
    const r = answer.value;
    if (!r.ok) {
      this.message.textContent = r.message;
      return;
    }
    this.byId.clear();
    this.tbody.replaceChildren();
    for (const a of r.body.alerts.slice().reverse()) this.upsert(a, false);
    // What came while the list was on its way: the list may have been read before it.
    for (const { alert, n } of this.latest.values()) if (n > from) this.upsert(alert, false);
    this.loaded = r.body.alerts.length;
    this.more.hidden = this.loaded < PAGE;
    this.emptyState();
    this.showTotals(r.body.totals, ticket);
  }
}

/** Opens the live stream into `board`; `liveState` says whether it is live. */
function connect(board, liveState, root) {
  let shown = false; // the app attaches the page once render returns
  const gone = () => {
    if (root.isConnected) shown = true;
    return shown && !root.isConnected;
  };
  const say = (text, state) => {
    liveState.textContent = text;
    liveState.dataset.state = state;
  };
  const es = new EventSource("/v1/alerts/stream");
  live = es;
  // The app has no unmount hook: once the board has left the page, the stream is closed.
  const watch = setInterval(() => {
    if (gone() || es.readyState === EventSource.CLOSED) {
      es.close();
      clearInterval(watch);
    }
  }, 2000);
  es.addEventListener("open", () => say("Live", "live"));
  es.addEventListener("error", () => (gone() ? es.close() : say("Reconnecting…", "down")));
  // The service ends the stream when the session or token that opened it has ended.
  es.addEventListener("end", () => {
    es.close();
    say("Signed out: sign in again for live alerts", "down");
  });
  es.addEventListener("alert", (e) => {
    if (gone()) return es.close();
    board.arrived(JSON.parse(e.data), true);
    board.scheduleTotals();
  });
}

/** The filters as a search form; applying one keeps it in the address and loads again. */
function filterForm(board, vocabulary) {
  const { filters, reads } = board;
  const select = (name, label, options) => h("div", { class: "am-field" },
    h("label", { for: `flt-${name}` }, label),
    h("select", { id: `flt-${name}`, name }, h("option", { value: "" }, "All"),
      options.map((o) => h("option", { value: o, selected: filters[name] === o }, words(o)))));
  // People are picked by name; the filter is their id.
  const text = (name, label, list) => h("div", { class: "am-field" },
    h("label", { for: `flt-${name}` }, label),
    h("input", { id: `flt-${name}`, name, type: "text", value: filters[name] || "", autocomplete: "off", list: list ? `flt-${name}-list` : null }),
    list ? h("datalist", { id: `flt-${name}-list` }, list.map(([id, n]) => h("option", { value: id }, n))) : null);
  const form = h("form", { class: "am-filters", role: "search", "aria-label": "Filter alerts" },
    select("status", "Status", vocabulary.statuses),
    select("severity", "Severity", vocabulary.severities),
    select("rule", "Rule", vocabulary.rules),
    text("client_id", "Client id"),
    reads ? text("account_manager_id", "Account manager", knownPeople()) : null,
    text("contract_id", "Contract id"),
    h("div", { class: "am-field am-field-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Apply")));
  form.querySelector("#flt-status").value = filters.status || "";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const k of FILTERS) {
      const input = form.querySelector(`[name="${k}"]`);
      if (!input) continue;
      if (input.value.trim()) filters[k] = input.value.trim();
      else delete filters[k];
    }
    const url = new URL(location.href);
    url.search = new URLSearchParams({ ...filters, ...(filters.status ? {} : { status: "all" }) }).toString();
    history.replaceState(history.state, "", url);
    board.load();
  });
  for (const s of form.querySelectorAll("select")) s.addEventListener("change", () => form.requestSubmit());
  return form;
}

function boardTable(tbody) {
  return h("div", { class: "table-wrap framed" },
    h("table", { class: "am-table am-board" },
      h("caption", { class: "visually-hidden" }, "Alerts, newest first"),
      h("thead", {}, h("tr", {}, ["Severity and rule", "Client and contract", "Exposure", "Message", "Raised", "Status", ""]
        .map((t) => h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Actions"))))),
      tbody));
}

export async function render(root, params, ctx) {
  if (live) live.close();
  const vocabulary = await alertWords();
  const board = new Board(ctx.session, readFilters(), vocabulary.severities);
  const liveState = h("span", { class: "am-live", id: "live-state" }, "Connecting…");
  root.replaceChildren(
    h("div", { class: "am-page" },
      h("header", { class: "am-head" }, h("h1", {}, "Alerts"),
        h("p", { class: "muted small" }, "Contract-risk alerts as they are raised. ", liveState,
          board.reads ? " You may acknowledge and resolve." : " You may acknowledge alerts on your contracts; finance resolves them.")),
      filterForm(board, vocabulary),
      board.totalsBox, board.message, board.announcer, boardTable(board.tbody), board.more),
  );
  connect(board, liveState, root); // first: nothing changed between the list and the stream is missed
  await board.load();
  return () => { if (live) live.close(); live = null; };
}

/* components.js: the building blocks pages share.
 *   kpi(title, value, change, {good})      a figure card with its change
 *   dataTable({caption, columns, load, sort, pageSize, csv, onState})
 *                                          a sortable, paginated table that loads its rows
 *   statusBadge(status, title)             margin status red / amber / green (or terminated), in words too
 *   severityBadge(severity)                an alert's severity, as a tag
 *   alertList(alerts, empty)               alerts: severity, rule, basis, exposure, message
 *   problem(status, text)                  a page-level error (403, 404, ...) with its heading
 *   link(href, text, attrs)                an in-app link; listOr(list, cls, item, empty)
 *   chart(container, option)               an ECharts chart (aria on, resized with the page)
 *   csvLink(path, params, label)           a download link (GET ...?format=csv, session cookie)
 *   asOfPicker(asOf, onChange)             the as-of date control
 *   crumbs([[label, href], ...])           the breadcrumb trail
 */
import { el, clear } from "./dom.js";
import { csvUrl } from "./api.js";
import { money, num, pct, delta, sign, sub, words } from "./format.js";

export function crumbs(trail) {
  return el("nav", { class: "crumbs", "aria-label": "Breadcrumb" },
    el("ol", {}, trail.map(([label, href], i) =>
      el("li", {}, i === trail.length - 1
        ? el("span", { "aria-current": "page" }, label)
        : el("a", { href, "data-nav": true }, label)))));
}

/** A CSV download link; `what` names the table for screen readers ("Download CSV of …"). */
export function csvLink(path, params, what = "") {
  return el("a", { class: "btn btn-small", href: csvUrl(path, params), download: "" },
    "Download CSV",
    what ? el("span", { class: "visually-hidden" }, ` of ${what}`) : null);
}

export function asOfPicker(asOf, onChange) {
  const input = el("input", { type: "date", id: "as-of", name: "as_of", value: asOf, required: true });
  input.addEventListener("change", () => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(input.value)) onChange(input.value);
  });
  return el("div", { class: "toolbar" }, el("label", { for: "as-of" }, "As of"), input);
}

/**
 * A figure card. `value` is shown as given; `change` = {text, sign} (sign −1/0/1 of the change)
 * and `good` says whether a rise is good (true), bad (false) or neutral (null).
 */
export function kpi(title, value, change, { good = true, id } = {}) {
  let cls = "change";
  if (change && change.sign !== 0 && good !== null) {
    cls += (change.sign > 0) === good ? " up" : " down";
  }
  const arrow = !change || change.sign === 0 ? "" : change.sign > 0 ? "▲ " : "▼ ";
  return el("section", { class: "kpi", "aria-labelledby": `${id}-h`, "data-kpi": id },
    el("h2", { id: `${id}-h` }, title),
    el("div", { class: "value", "data-value": "" }, value),
    change ? el("div", { class: cls }, arrow, change.text) : null);
}

/** The change from `before` to `now` (decimal strings), formatted by `fmt`. */
export function changeOf(now, before, fmt = delta) {
  if (now === null || now === undefined || before === null || before === undefined) {
    return { text: "no figure four weeks earlier", sign: 0 };
  }
  const d = sub(now, before);
  return { text: `${fmt(d)} vs 4 weeks earlier`, sign: sign(d) };
}

// Of the margin only: open alerts and a terminated contract are said beside it, never hidden
// under a green badge.
const STATUS = {
  red: ["status-red", "✖", "Loss"],
  amber: ["status-amber", "▲", "Below floor"],
  green: ["status-green", "✔", "Margin OK"],
  terminated: ["status-grey", "■", "Terminated"],
};
/** A colour badge that also says its meaning in words and an icon (never colour alone). */
export function statusBadge(status, title) {
  const [cls, icon, words] = STATUS[status] || ["status-grey", "•", status || "—"];
  return el("span", { class: `status ${cls}`, title: title || words },
    el("span", { "aria-hidden": "true" }, icon), words);
}

export function severityBadge(severity) {
  return el("span", { class: `sev sev-${severity}` }, severity);
}

/** Alerts as a list, each with its severity, rule (in words and as named), basis, exposure
 * and sentence; `empty` (a node) when there is none. */
export function alertList(alerts, empty, id) {
  return listOr(alerts, "alerts", (a) => el("li", { class: `alert alert-${a.severity}`, "data-rule": a.rule },
    el("div", { class: "alert-head" },
      severityBadge(a.severity),
      el("strong", {}, words(a.rule)),
      a.basis === "proposed" ? " (if granted as asked)" : null,
      el("span", { class: "muted" }, [a.rule, a.basis, a.status, a.raised_at && `raised ${a.raised_at.slice(0, 10)}`,
        a.assignment_id].filter(Boolean).join(" · ")),
      el("span", { class: "alert-exposure" }, a.exposure ? `exposure ${money(a.exposure)}` : "")),
    el("p", {}, a.message)), empty, id);
}

/** A `ul` of class `cls` with one `li` (made by `item`) per element of `list`; `empty` when
 * there is none. */
export function listOr(list, cls, item, empty, id) {
  return list.length ? el("ul", { class: cls, id }, list.map(item)) : empty;
}

export function link(href, text, attrs = {}) {
  return el("a", { href, "data-nav": true, ...attrs }, text);
}

/** A page-level message (error, forbidden) with a heading, in place of the page's content. */
export function problem(status, text) {
  const title = status === 403 ? "403 Forbidden" : status === 404 ? "404 Not found" : `Error ${status}`;
  return el("section", { class: "problem", role: "alert" }, el("h2", {}, title), el("p", {}, text));
}

/** A money cell: right-aligned, negative in red (the minus sign says it too). */
export function moneyCell(s) {
  return el("td", { class: `num${s && sign(s) < 0 ? " neg" : ""}` }, money(s));
}
export function pctCell(s) {
  return el("td", { class: `num${s && sign(s) < 0 ? " neg" : ""}` }, pct(s));
}
/** A decimal figure that is not money (hours, weeks): grouped, 2 places. */
export function decCell(s) {
  return el("td", { class: "num" }, num(s));
}
export function numCell(s) {
  return el("td", { class: "num" }, s === null || s === undefined ? "—" : String(s));
}

/**
 * Loads that can be answered in another order than asked (clicks or changes faster than the
 * network). `latestOnly(targets)` gives `run(fetch)`: it awaits `fetch()` with every element
 * of `targets()` aria-busy while any load is on its way, and resolves to `{ latest, value }`,
 * `latest` false when a later run was started meanwhile: that one paints, so a slow earlier
 * answer never overwrites what the user asked for last.
 */
export function latestOnly(targets) {
  let started = 0;
  let pending = 0;
  return async function run(fetch) {
    const mine = ++started;
    pending += 1;
    for (const t of targets()) t.setAttribute("aria-busy", "true");
    try {
      const value = await fetch();
      return { latest: mine === started, value };
    } finally {
      pending -= 1;
      if (!pending) for (const t of targets()) t.removeAttribute("aria-busy");
    }
  };
}

/**
 * A sortable, paginated table.
 *   columns: [{key, label, num?, sortable?, cell(row) -> <td>}]
 *   load({sort, limit, offset}) -> {rows, total}
 *   sort: "-weekly_gross_profit" (initial), pageSize, page (0-based initial)
 *   onState({sort, page}) after each change (e.g. to keep it in the URL)
 */
export function dataTable({ caption, columns, load, sort, pageSize = 10, page = 0, onState, id }) {
  const state = { sort, page };
  const table = el("table", { id });
  const status = el("span", { "aria-live": "polite" });
  const prev = el("button", { type: "button", class: "btn" }, "Previous");
  const next = el("button", { type: "button", class: "btn" }, "Next");
  const wrap = el("div", {}, el("div", { class: "table-wrap", tabindex: "0" }, table),
    el("div", { class: "pager" }, status, prev, next));

  const latest = latestOnly(() => [table]); // clicks may come faster than answers
  async function draw() {
    const answer = await latest(() =>
      load({ sort: state.sort, limit: pageSize, offset: state.page * pageSize }));
    if (!answer.latest) return;
    const { rows, total } = answer.value;
    clear(table);
    table.append(el("caption", {}, caption));
    const col = state.sort ? state.sort.replace(/^-/, "") : null;
    const desc = state.sort && state.sort.startsWith("-");
    table.append(el("thead", {}, el("tr", {}, columns.map((c) => {
      const sorted = c.key === col;
      const attrs = { class: c.num ? "num" : "", scope: "col" };
      if (sorted) attrs["aria-sort"] = desc ? "descending" : "ascending";
      if (c.sortable === false) return el("th", attrs, c.label);
      const b = el("button", { type: "button" }, c.label,
        sorted ? el("span", { "aria-hidden": "true" }, desc ? " ▼" : " ▲") : null);
      b.addEventListener("click", () => {
        // Read the order now, not as drawn: a second click before the redraw still toggles.
        const now = state.sort ? state.sort.replace(/^-/, "") === c.key : false;
        const nowDesc = now && state.sort.startsWith("-");
        state.sort = now && nowDesc ? c.key : now ? `-${c.key}` : c.num ? `-${c.key}` : c.key;
        state.page = 0;
        update();
      });
      return el("th", attrs, b);
    }))));
    const body = el("tbody", {});
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, "Nothing to show.")));
    }
    for (const r of rows) body.append(el("tr", {}, columns.map((c) => c.cell(r))));
    table.append(body);
    const first = total ? state.page * pageSize + 1 : 0;
    const last = Math.min(total, (state.page + 1) * pageSize);
    status.textContent = `${first}–${last} of ${total}`;
    prev.disabled = state.page === 0;
    next.disabled = last >= total;
  }
  async function update() {
    await draw();
    if (onState) onState({ ...state });
  }
  prev.addEventListener("click", () => { state.page -= 1; update(); });
  next.addEventListener("click", () => { state.page += 1; update(); });
  wrap.ready = draw();
  return wrap;
}

let echartsModule = null;
export async function echarts() {
  if (!echartsModule) echartsModule = await import("/static/vendor/echarts.esm.min.mjs");
  return echartsModule;
}

/** Draws an ECharts chart in `container` once it is in the page; resolves when drawn. */
export async function chart(container, option) {
  const ec = await echarts();
  const c = ec.init(container, null, { renderer: "canvas" });
  const drawn = new Promise((resolve) => c.on("finished", resolve));
  c.setOption({
    aria: { enabled: true },
    animation: false,
    textStyle: { fontFamily: "system-ui, sans-serif" },
    ...option,
  });
  const ro = new ResizeObserver(() => c.resize());
  ro.observe(container);
  await drawn;
  container.dataset.drawn = "true";
  return c;
}

export function panel(title, headingId, actions, ...body) {
  return el("section", { class: "panel", "aria-labelledby": headingId },
    el("div", { class: "panel-head" }, el("h2", { id: headingId }, title),
      el("div", { class: "toolbar" }, actions)),
    ...body);
}

/** Every table of `root` wider than its box says so, above it, with a shade on the cut edge:
 * on a narrow screen the change columns (Δ weekly GP, Δ remaining GP) sat behind a scroll
 * nobody saw (issue #21). Checked again when the box is scrolled or resized, or its table is
 * drawn again (its size changes). */
export function scrollHints(root) {
  for (const box of root.querySelectorAll(".table-wrap:not([data-hinted])")) {
    box.dataset.hinted = "";
    const hint = el("p", { class: "scroll-hint muted" },
      "More columns to the right: scroll the table sideways.");
    hint.hidden = true;
    box.before(hint);
    const show = () => {
      const more = box.scrollLeft + box.clientWidth < box.scrollWidth - 2;
      hint.hidden = !more;
      box.classList.toggle("more-right", more);
    };
    box.addEventListener("scroll", show);
    new ResizeObserver(show).observe(box);
    show();
  }
}

// Shared helpers of the account managers' pages and the alert board: status badges, words.
// They talk to the API through api.js, as every page does.

import { el } from "../dom.js";
import { delta, money, pct, sign } from "../format.js";

// The foundation's element builder and decimal formatting (strings, never floats).
export const h = el;
export { delta, money, pct, sign };

export function words(identifier) {
  // "RaiseRequested" -> "Raise requested"; "client_max_bill_rate" -> "Client max bill rate"
  const spaced = String(identifier)
    .replace(/_/g, " ")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();
  // Overtime and double time are written OT and DT: "ot_pay_rate" -> "OT pay rate".
  const abbreviated = spaced.replace(/\b(ot|dt)\b/g, (w) => w.toUpperCase());
  return abbreviated.charAt(0).toUpperCase() + abbreviated.slice(1);
}

// Of the margin only (the finance pages' words): open alerts and a terminated contract are said
// beside it, never hidden under a green "Healthy".
const STATUS_TEXT = { red: "Loss", amber: "Below floor", green: "Margin OK", terminated: "Terminated" };

/** A colour badge that also says its meaning in words (never colour alone). */
export function statusBadge(status, title) {
  return h(
    "span",
    { class: `am-status am-status-${status}`, title: title || null },
    h("span", { class: "am-dot", "aria-hidden": "true" }),
    STATUS_TEXT[status] || status,
  );
}

export function severityBadge(severity) {
  return h("span", { class: `am-sev am-sev-${severity}` }, severity);
}

export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** A page-level message (error, forbidden) with a heading, in place of the page's content. */
export function problem(status, text) {
  const title = status === 403 ? "403 Forbidden" : status === 404 ? "404 Not found" : `Error ${status}`;
  return h(
    "section",
    { class: "am-problem", role: "alert" },
    h("h2", {}, title),
    h("p", {}, text),
  );
}

export function ensureStyles() {
  if (document.querySelector("link[data-am-css]")) return;
  document.head.append(
    h("link", { rel: "stylesheet", href: "/static/app/pages/am.css", "data-am-css": "1" }),
  );
}

/** A `ul` of class `cls` with one `li` (made by `item`) per element of `list`; `empty` when
 * there is none. */
export function listOr(list, cls, item, empty) {
  return list.length ? h("ul", { class: cls }, list.map(item)) : empty;
}

export function link(href, text, attrs = {}) {
  return h("a", { href, "data-link": "", ...attrs }, text);
}

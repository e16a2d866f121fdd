// Shared helpers of the account managers' pages and the alert board: status badges, words,
// and one JSON request helper that answers {ok, status, body} (an event's refusal is an
// answer to show, not an exception).

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
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
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

/** The error body's message in words: {errors:[{field, reason}], message} or FastAPI's detail. */
export function errorText(body, status) {
  if (!body || typeof body !== "object") return `HTTP ${status}`;
  if (body.message) return body.message;
  if (typeof body.detail === "string") return body.detail;
  const errs = body.errors || (body.detail && body.detail.errors);
  if (Array.isArray(errs) && errs.length) return errs.map((e) => `${e.field}: ${e.reason}`).join("; ");
  return `HTTP ${status}`;
}

let csrf = null;

async function csrfToken(ctx) {
  const fromCtx = ctx && (ctx.session?.csrf_token || ctx.csrf_token);
  if (fromCtx) return fromCtx;
  if (csrf) return csrf;
  const r = await fetch("/v1/session", { credentials: "same-origin" });
  if (r.ok) csrf = (await r.json()).csrf_token;
  return csrf;
}

/** JSON request: resolves {ok, status, body}; never throws on an HTTP error status. */
export async function request(ctx, method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    headers["Content-Type"] = "application/json";
    const t = await csrfToken(ctx);
    if (t) headers["X-CSRF-Token"] = t;
  }
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed = null;
  const text = await r.text();
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  return { ok: r.ok, status: r.status, body: parsed };
}

/** The signed-in user: {role, account_manager_id}. */
export async function session(ctx) {
  if (ctx && ctx.session && ctx.session.role) return ctx.session;
  const r = await request(ctx, "GET", "/v1/session");
  return r.ok ? r.body : { role: null, account_manager_id: null };
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

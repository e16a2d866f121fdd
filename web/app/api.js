/* api.js: the app's one way to talk to the API (same origin, the session cookie).
 *
 *   import { api, ApiError, csvUrl } from "/static/app/api.js";
 *   const p = await api.get("/v1/margins/portfolio", { as_of: "2026-11-28" }); // parsed JSON
 *   await api.post("/v1/events", body);          // also api.put / api.patch / api.del
 *   <a href={csvUrl("/v1/margins/clients", params)} download>  // GET URL answering CSV
 *
 * Unsafe methods (POST/PUT/PATCH/DELETE) send the X-CSRF-Token header of the session
 * (app.js calls setCsrf after sign-in). A non-2xx answer throws ApiError with `status`,
 * `message`, `errors` ([{field, reason}], from the API's error body) and the raw `body`.
 * A 401 also dispatches the window event "ledger:signed-out" (app.js shows the sign-in page).
 */

let csrf = "";

export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, message, errors, body) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.errors = errors;
    this.body = body;
  }
  /** The reason given for one field, if any (for showing it next to that field). */
  reasonFor(field) {
    const e = this.errors.find((x) => x.field === field);
    return e ? e.reason : null;
  }
}

function withParams(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

/** A GET URL of a list answering CSV, for links that download with the session cookie. */
export function csvUrl(path, params) {
  return withParams(path, { ...(params || {}), format: "csv" });
}

function errorOf(status, body) {
  // The API's error body: {"errors": [{"field", "reason"}], "message"}; older routes say
  // {"detail": "..."} or {"detail": {"errors": [...]}}.
  let errors = [];
  let message = `HTTP ${status}`;
  if (body && typeof body === "object") {
    const d = body.detail;
    if (Array.isArray(body.errors)) errors = body.errors;
    else if (d && typeof d === "object" && Array.isArray(d.errors)) errors = d.errors;
    if (typeof body.message === "string") message = body.message;
    else if (typeof d === "string") message = d;
    else if (d && typeof d.message === "string") message = d.message;
    else if (errors.length) message = errors.map((e) => `${e.field}: ${e.reason}`).join("; ");
    else if (typeof body.reason === "string") message = body.reason;
  }
  return new ApiError(status, message, errors, body);
}

async function request(method, path, { params, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
  const r = await fetch(withParams(path, params), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await r.text();
  let parsed = text;
  if ((r.headers.get("content-type") || "").includes("json") && text) parsed = JSON.parse(text);
  if (!r.ok) {
    if (r.status === 401 && path !== "/v1/session") {
      window.dispatchEvent(new CustomEvent("ledger:signed-out"));
    }
    throw errorOf(r.status, parsed);
  }
  return parsed;
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, body, params) => request("POST", path, { body, params }),
  put: (path, body, params) => request("PUT", path, { body, params }),
  patch: (path, body, params) => request("PATCH", path, { body, params }),
  del: (path, params) => request("DELETE", path, { params }),
  /** The raw text of a GET (e.g. CSV with accept "text/csv"). */
  text: (path, params, accept = "text/csv") => request("GET", path, { params, accept }),
};

/* format.js: showing the API's decimal strings. Money never becomes a JS float: the strings
 * are formatted as text, and differences are exact (BigInt over scaled integers).
 *   money("-1234.5") -> "−1,234.50"   pct("25.00") -> "25.00 %"   sub("10.00", "2.5") -> "7.50"
 */

function parse(s) {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(String(s).trim());
  if (!m) throw new Error(`not a decimal: ${s}`);
  const frac = m[3] || "";
  return { neg: m[1] === "-", int: m[2] || "0", frac };
}

function toScaled(s, scale) {
  const p = parse(s);
  const digits = p.int + p.frac.padEnd(scale, "0").slice(0, scale);
  const v = BigInt(digits);
  return p.neg ? -v : v;
}

function fromScaled(v, scale) {
  const neg = v < 0n;
  let digits = (neg ? -v : v).toString().padStart(scale + 1, "0");
  const int = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale);
  return `${neg ? "-" : ""}${int}${scale ? "." + frac : ""}`;
}

function scaleOf(...xs) {
  return Math.max(...xs.map((x) => parse(x).frac.length));
}

/** a − b, exact, as a decimal string with the larger of their scales. */
export function sub(a, b) {
  const s = scaleOf(a, b);
  return fromScaled(toScaled(a, s) - toScaled(b, s), s);
}

/** −1, 0 or 1. */
export function sign(a) {
  const v = toScaled(a, parse(a).frac.length);
  return v < 0n ? -1 : v > 0n ? 1 : 0;
}

/** Rounds half away from zero to `places` (the API already rounds; this is for sub results). */
export function round(a, places = 2) {
  const s = parse(a).frac.length;
  if (s <= places) return fromScaled(toScaled(a, places), places);
  const v = toScaled(a, s);
  const f = 10n ** BigInt(s - places);
  const abs = v < 0n ? -v : v;
  let q = abs / f;
  if ((abs % f) * 2n >= f) q += 1n;
  return fromScaled(v < 0n ? -q : q, places);
}

function group(int) {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A decimal string with thousands separators and a real minus sign; "—" for null. */
export function num(s, places = 2) {
  if (s === null || s === undefined || s === "") return "—";
  const r = parse(round(s, places));
  const body = group(r.int.replace(/^0+(?=\d)/, "")) + (places ? "." + r.frac : "");
  return (r.neg && /[1-9]/.test(r.int + r.frac) ? "\u2212" : "") + body;
}

export const money = (s) => num(s, 2);
export const pct = (s) => (s === null || s === undefined ? "—" : `${num(s, 2)} %`);

/** "+1,234.50" / "−12.00" / "0.00": a change, always signed. */
export function delta(s, places = 2) {
  if (s === null || s === undefined) return "—";
  const n = num(s, places);
  return sign(s) > 0 ? `+${n}` : n;
}

/** YYYY-MM-DD of a Date in UTC, and date arithmetic on such strings. */
export function isoDay(d) {
  return d.toISOString().slice(0, 10);
}
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return isoDay(d);
}
export function today() {
  return isoDay(new Date());
}

/** "RaiseRequested" -> "Raise requested"; "client_max_bill_rate" -> "Client max bill rate";
 * overtime and double time are written OT and DT ("ot_pay_rate" -> "OT pay rate"). */
export function words(identifier) {
  const spaced = String(identifier)
    .replace(/_/g, " ")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();
  const abbreviated = spaced.replace(/\b(ot|dt)\b/g, (w) => w.toUpperCase());
  return abbreviated.charAt(0).toUpperCase() + abbreviated.slice(1);
}

/** "2026-11-20 09:00 UTC" of an ISO instant; "—" for none. */
export function dateTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

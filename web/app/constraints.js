/* constraints.js: a JSON Schema property's constraints as an input's, so the browser refuses
 * what the server would before any request is sent.
 *   limits(prop)                   {minimum, maximum, exclusiveMinimum, exclusiveMaximum, places}
 *   inputAttributes(kind, spec)    pattern / maxlength / data-min / data-max / data-step
 *   checkRange(input)              sets the input's custom validity from its data-min/max
 * Decimals stay text (inputmode="decimal", never a float): the pattern says the digits and
 * places, and the range is compared exactly on the decimal strings (format.js). */
import { sign, sub } from "./format.js";

/** The bounds and decimal places of a number or integer property (its anyOf branches too). */
export function limits(p) {
  const number = (p.anyOf || []).find((s) => s.type === "number" || s.type === "integer") || p;
  const out = {};
  for (const k of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) {
    if (typeof number[k] === "number") out[k] = number[k];
  }
  // A range narrowed on an annotated type shows as pydantic's own `gt` / `lt` beside it.
  if (typeof p.gt === "number") out.exclusiveMinimum = p.gt;
  if (typeof p.lt === "number") out.exclusiveMaximum = p.lt;
  const step = p.multipleOf ?? number.multipleOf;
  out.places = step ? Math.max(0, Math.round(-Math.log10(step))) : number.type === "integer" ? 0 : null;
  return out;
}

/** A JSON Schema `pattern` (searched, as the server does) as an HTML one (matched whole, with
 * the `v` flag); null when the browser could not compile it (it would log an error). */
export function htmlPattern(pattern) {
  if (!pattern) return null;
  const whole = pattern.startsWith("^") && pattern.endsWith("$")
    ? pattern.slice(1, -1)
    : `[\\s\\S]*(?:${pattern})[\\s\\S]*`;
  const safe = whole.replace(/([^\\])-\]/g, "$1\\-]"); // a literal "-" ending a class
  try {
    new RegExp(`^(?:${safe})$`, "v");
    return safe;
  } catch {
    return null;
  }
}


/** The attributes that carry a spec's constraints onto its input. */
export function inputAttributes(spec) {
  if (spec.kind === "decimal" || spec.kind === "integer") {
    const l = spec.limits;
    const negative = [l.minimum, l.exclusiveMinimum].every((b) => b === undefined || b < 0);
    const places = l.places === null ? "" : l.places === 0 ? "" : `(\\.[0-9]{1,${l.places}})?`;
    const fraction = l.places === null ? "(\\.[0-9]+)?" : places;
    return {
      pattern: `${negative ? "-?" : ""}[0-9]+${fraction}`,
      "data-min": l.minimum ?? l.exclusiveMinimum,
      "data-min-exclusive": l.exclusiveMinimum !== undefined ? "true" : null,
      "data-max": l.maximum ?? l.exclusiveMaximum,
      "data-max-exclusive": l.exclusiveMaximum !== undefined ? "true" : null,
      "data-step": l.places === null ? null : l.places === 0 ? "1" : `0.${"0".repeat(l.places - 1)}1`,
    };
  }
  return { pattern: htmlPattern(spec.pattern), maxlength: spec.maxLength || null };
}

/** Why a decimal string is out of the input's range, or "" when it is in (or not a number:
 * the pattern says that). */
export function rangeProblem(value, { min, minExclusive, max, maxExclusive }) {
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(value)) return "";
  if (min !== undefined && min !== null && min !== "") {
    const s = sign(sub(value, String(min)));
    if (s < 0 || (minExclusive && s === 0)) return minExclusive ? `must be more than ${min}` : `must be at least ${min}`;
  }
  if (max !== undefined && max !== null && max !== "") {
    const s = sign(sub(value, String(max)));
    if (s > 0 || (maxExclusive && s === 0)) return maxExclusive ? `must be less than ${max}` : `must be at most ${max}`;
  }
  return "";
}

/** Sets `input`'s custom validity: its format said in words (the pattern's refusal would only
 * say "match the requested format"), then its range, exact on the string. */
export function checkRange(input) {
  const d = input.dataset;
  const value = input.value.trim();
  let problem = "";
  if (value && input.pattern && !new RegExp(`^(?:${input.pattern})$`, "v").test(value)) {
    const places = d.step && d.step !== "1" ? d.step.length - 2 : 0;
    const what = places ? `a decimal like 37.50, at most ${places} decimal place${places > 1 ? "s" : ""}` : "a whole number";
    problem = `must be ${what}${input.pattern.startsWith("-?") ? "" : ", not negative"}`;
  } else {
    problem = rangeProblem(value, {
      min: d.min, minExclusive: d.minExclusive === "true", max: d.max, maxExclusive: d.maxExclusive === "true",
    });
  }
  input.setCustomValidity(problem);
}

/* people.js: people by name, not by id. The API's records name a person by their id (the
 * identity provider's subject: `recorded_by`, a contract's `account_manager_id`); the app shows
 * the name instead, from GET /v1/people (loaded once a session exists, by app.js).
 *   nameOf("u-alex-8b2d") -> "Alex Morgan"   (the id itself for someone never signed in)
 */
import { api } from "./api.js";

const names = new Map();

export async function loadPeople() {
  try {
    const r = await api.get("/v1/people");
    names.clear();
    for (const p of r.people) names.set(p.id, p.name);
  } catch (e) {
    // Names are a courtesy: without them the app shows ids, as it did before.
    console.warn("people not loaded", e);
  }
}

/** [[id, name]] of everyone known, by name (for pickers). */
export function knownPeople() {
  return [...names.entries()].sort((a, b) => a[1].localeCompare(b[1]));
}

/** The person's name, or `id` as it is when nobody by that id has signed in. */
export function nameOf(id) {
  if (id === null || id === undefined) return id;
  return names.get(id) ?? id;
}

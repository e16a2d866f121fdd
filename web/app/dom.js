/* dom.js: building elements without innerHTML (text is always text, never markup).
 *   el("a", { href: "/x", class: "btn", onclick: fn }, "text", childNode, [more, children])
 * Attributes: `class`, `for`, aria-* and data-* as given; `on<event>` adds a listener; a
 * boolean true sets an empty attribute, false/null/undefined leaves it out. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "value") node.value = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

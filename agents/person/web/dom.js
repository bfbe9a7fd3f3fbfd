// Building the page's DOM. Text always goes in as text nodes, never as HTML: offer titles,
// notes and reasons come from vendors, and a vendor must not be able to script this page.

/** An element: h("p", {class: "note"}, "text", child, ...). `on…` attributes add listeners. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let ids = 0;
/** A fresh id for pairing a label with its control. */
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control: label, hint, control, in one block. */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  const hintEl = hint ? h("span", {class: "hint", id: `${id}-hint`}, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", {class: "field"}, h("label", {for: id}, label), hintEl, control);
}

/**
 * Bring `parent`'s children in line with `items`, keyed: a child whose item is unchanged
 * stays where it is, untouched (so a half-typed counter price keeps its text and its focus
 * while other offers arrive); changed or new items are rendered afresh.
 */
export function keyed(parent, items, key, render) {
  const old = new Map([...parent.children].map((node) => [node.dataset.key, node]));
  items.forEach((item, index) => {
    const k = String(key(item));
    const sig = JSON.stringify(item);
    let node = old.get(k);
    if (!node || node.dataset.sig !== sig) {
      const fresh = render(item);
      fresh.dataset.key = k;
      fresh.dataset.sig = sig;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    old.delete(k);
    if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] ?? null);
  });
  for (const stale of old.values()) stale.remove();
}

/** Run `action` from a button: busy while it runs, its error shown in `errorEl`. */
export async function busy(button, errorEl, action) {
  if (errorEl) errorEl.textContent = "";
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await action();
  } catch (error) {
    if (errorEl) errorEl.textContent = error.message;
    else throw error;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
  return undefined;
}

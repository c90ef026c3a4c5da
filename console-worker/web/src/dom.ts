// Tiny DOM helpers: elements are built with the DOM API (text through textContent only, never
// innerHTML), so nothing the host reports can become markup. No inline styles (CSP).

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

// `el("button", {type: "button", onclick: fn}, "Restart")`. Attributes whose value is false,
// null or undefined are left out; true gives an empty attribute; on* functions are listeners.
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  append(e, ...children);
  return e;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

export function clear(e: Element): void {
  while (e.firstChild) e.removeChild(e.firstChild);
}

// Puts `child` right after `previous` (first when null) in `parent`, moving it only when it is
// not there already: a moved node loses keyboard focus, so rows updated in place must not move.
export function placeAfter(parent: Element, previous: Element | null, child: Element): void {
  const want = previous ? previous.nextElementSibling : parent.firstElementChild;
  if (want !== child) parent.insertBefore(child, want);
}

// Sets a text node's content only when it changed (keeps selection and avoids layout churn).
export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e as T;
}

export function fmtNumber(v: unknown, digits = 1): string {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
}

export function fmtDuration(seconds: unknown): string {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "–";
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtTime(unixMs: unknown): string {
  if (typeof unixMs !== "number" || !Number.isFinite(unixMs)) return "–";
  return new Date(unixMs).toLocaleString();
}

// A message line under a form: role=status for results, role=alert for errors.
export function message(target: HTMLElement, text: string, isError: boolean): void {
  target.setAttribute("role", isError ? "alert" : "status");
  target.className = isError ? "msg error" : "msg ok";
  target.textContent = text;
}

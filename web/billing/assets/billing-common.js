// Small helpers shared by the Billing & Usage page's modules.
import { h, showError, table } from './ui.js';

// Replaces a container's content.
export function fill(container, ...nodes) {
  container.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
  container.removeAttribute('aria-busy');
}

// A table (ui.js): columns [{label, num}], rows of cells; the caption is
// for screen readers (the section's heading names it on screen).
export function grid(columns, rows, caption) {
  return table(columns, rows, { caption });
}

export function note(text) {
  return h('p', { class: 'muted', text });
}

// A decimal text (or integer) is zero: "0", "0.00".
export function isZero(d) {
  return /^-?0*(\.0*)?$/.test(String(d));
}

// Runs load(), rendering its result with render(); an error is shown in the
// container. Returns the loaded value or null.
export async function guard(container, load, render) {
  try {
    const v = await load();
    render(v);
    return v;
  } catch (err) {
    container.removeAttribute('aria-busy');
    if (err.status === 401) signedOut(err);
    else showError(container, err);
    return null;
  }
}

// Not signed in (no token, or one the API refuses): one message saying how
// to sign in, instead of the sections.
export function signedOut(err) {
  const f = document.getElementById('fatal');
  if (!f.firstChild) showError(f, err);
  document.querySelectorAll('main > section').forEach((s) => { s.hidden = true; });
}

// The notice line at the top of the page.
export function notify(text, kind = 'info') {
  const n = document.getElementById('notice');
  n.replaceChildren(h('p', { class: 'notice ' + kind, text }));
}

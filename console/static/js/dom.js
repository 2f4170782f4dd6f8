// dom.js: building the page from data without ever parsing HTML. Everything the API returns
// (model output, tool results, document text) becomes text nodes; the CSP's Trusted Types rule
// would refuse an innerHTML assignment anyway.

// h creates an element: attrs are attributes (false/null/undefined skip one, true sets it empty),
// except `on`, an object of event listeners; children are nodes or strings (as text).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'on') {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, String(value));
    }
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// $ returns the element with the given id; a missing one is a bug in the page.
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el;
}

// show shows exactly one of the elements, by id, hiding the others.
export function show(ids, visible) {
  for (const id of ids) $(id).hidden = id !== visible;
}

// clear removes every child of el.
export function clear(el) {
  el.replaceChildren();
}

// when formats a time stamp of the API for people.
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

// brief cuts long text for display, saying that it did.
export function brief(text, max = 600) {
  const s = String(text ?? '');
  return s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
}

// twoClick makes a button act on its second click only: the first asks, showing ask (no modal
// dialog, which the page's tests could not answer either). act runs with the button disabled; a
// failing act should re-enable it.
export function twoClick(button, ask, act) {
  button.addEventListener('click', async () => {
    if (button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes';
      button.textContent = ask;
      return;
    }
    button.disabled = true;
    await act();
  });
}

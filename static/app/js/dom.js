// Small helpers for the page: elements by id, elements made from data (texts always go in as text, never as
// HTML), showing and hiding, and a field's error message.

export const $ = (id) => document.getElementById(id);

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function show(id, visible) {
  $(id).hidden = !visible;
}

export function setError(id, message) {
  const element = $(id);
  element.textContent = message || "";
  element.hidden = !message;
  const input = document.querySelector(`[aria-describedby~="${id}"]`);
  if (input && message) input.setAttribute("aria-invalid", "true");
  else if (input) input.removeAttribute("aria-invalid");
}

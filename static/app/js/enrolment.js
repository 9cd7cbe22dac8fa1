// Enrolling the phone: the token from the QR code's link (#token=..., taken out of the address bar) or pasted
// by the officer, changing it for another one, and forgetting it.

import { refreshCatalogue } from "./catalogue.js";
import { $, setError, show } from "./dom.js";
import { verify } from "./session.js";
import { render } from "./shell.js";
import { outbox, state } from "./state.js";
import * as store from "./store.js";

/** The token in a pasted text (the token itself, or the whole enrolment link), with what it says of itself. */
function readToken(text) {
  let value = text.trim();
  const marker = value.indexOf("#token=");
  if (marker >= 0) value = value.slice(marker + "#token=".length);
  try {
    value = decodeURIComponent(value);
  } catch {
    return null;
  }
  value = value.replace(/\s+/g, ""); // a token pasted across lines
  const parts = value.split(".");
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part))) return null;
  try {
    const payload = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
    if (typeof claims.sub !== "string" || !/^\d{1,16}$/.test(claims.sub)) return null;
    return { token: value, numero: Number(claims.sub), expira_en: Number.isFinite(claims.exp) ? claims.exp * 1000 : null };
  } catch {
    return null;
  }
}

export async function enrol(text) {
  const read = readToken(text);
  if (!read) {
    setError("token-error", "Eso no es un token válido. Cópielo completo desde la ficha del oficial, o escanee su código QR.");
    return false;
  }
  setError("token-error", "");
  const session = { ...read, nombre: null, etiqueta: null, verificado: false, rechazado: false, motivo: null };
  await store.saveSetting("sesion", session);
  state.session = session;
  $("token").value = "";
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {}); // keep the queue under storage pressure
  render();
  await verify();
  refreshCatalogue();
  outbox.sync({ now: true });
  return true;
}

/** The token of the enrolment link this page was opened with, if any. */
export function enrolFromLink() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search); // the token leaves the address bar
  return match[1];
}

export function wireEnrolment() {
  $("form-token").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await enrol($("token").value)) {
      state.changingToken = false;
      render();
    }
  });
  $("cancelar-token").addEventListener("click", () => {
    state.changingToken = false;
    setError("token-error", "");
    render();
  });
  $("cambiar-token").addEventListener("click", () => {
    state.changingToken = true;
    render();
    $("token").focus();
  });
  $("olvidar-token").addEventListener("click", () => show("olvidar-confirmacion", true));
  $("olvidar-no").addEventListener("click", () => show("olvidar-confirmacion", false));
  $("olvidar-si").addEventListener("click", async () => {
    await store.deleteSetting("sesion");
    state.session = null;
    show("olvidar-confirmacion", false);
    render();
  });
}

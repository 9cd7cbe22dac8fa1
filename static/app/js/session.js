// The enrolled token against the server: who it belongs to (GET /api/yo), and what happens when the server
// refuses it (everything on the phone is kept; the app asks for a new token).

import * as api from "./api.js";
import { render } from "./shell.js";
import { state } from "./state.js";
import * as store from "./store.js";

/** Ask the server who this token is (a 401 means asking for a new one; no signal leaves it to check later). */
export async function verify() {
  const session = state.session;
  if (!session || session.rechazado) return;
  const answer = await api.whoAmI(session.token);
  const current = await store.setting("sesion");
  if (!current || current.token !== session.token) return; // enrolled again meanwhile
  if (answer.tipo === "ok") {
    const expires = Date.parse(answer.data.token.expira_en);
    state.session = {
      ...current,
      numero: answer.data.oficial.numero,
      nombre: answer.data.oficial.nombre,
      etiqueta: answer.data.token.etiqueta || "",
      expira_en: Number.isFinite(expires) ? expires : current.expira_en,
      verificado: true,
    };
    await store.saveSetting("sesion", state.session);
  } else if (answer.tipo === "token") {
    state.session = { ...current, rechazado: true, motivo: answer.detalle };
    await store.saveSetting("sesion", state.session);
  }
  render();
}

export async function tokenRefused(detalle) {
  state.session = await store.setting("sesion");
  if (state.session && !state.session.rechazado) {
    state.session = { ...state.session, rechazado: true, motivo: detalle };
    await store.saveSetting("sesion", state.session);
  }
  render();
}

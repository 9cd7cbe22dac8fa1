// The catalogue of offences in the capture form: kept on the phone (revalidated with its ETag when there is
// signal), searched by code or words with accents ignored, and the chosen offence's gravity and fine.

import * as api from "./api.js";
import { $, h } from "./dom.js";
import { tokenRefused } from "./session.js";
import { state } from "./state.js";
import * as store from "./store.js";
import { formatLocal } from "./time.js";

const fold = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

export async function loadCatalogue() {
  const copy = await store.setting("catalogo");
  state.catalogue = copy ? copy.codigos : [];
  state.catalogueDate = copy ? copy.actualizado_en : null;
  renderCodes();
}

export async function refreshCatalogue() {
  const session = state.session;
  if (!session || session.rechazado || navigator.onLine === false) return;
  const copy = await store.setting("catalogo");
  const answer = await api.catalogue(session.token, copy && copy.etag);
  if (answer.tipo === "ok" && Array.isArray(answer.data.codigos)) {
    await store.saveSetting("catalogo", { etag: answer.etag, codigos: answer.data.codigos, actualizado_en: Date.now() });
  } else if (answer.tipo === "sin-cambios" && copy) {
    await store.saveSetting("catalogo", { ...copy, actualizado_en: Date.now() });
  } else if (answer.tipo === "token") {
    await tokenRefused(answer.detalle);
  }
  await loadCatalogue();
}

function codeLabel(code) {
  return `${code.codigo} · ${code.descripcion}`;
}

export function renderCodes() {
  const select = $("codigo");
  const chosen = select.value;
  const words = fold($("buscar-codigo").value).split(/\s+/).filter(Boolean);
  const matches = state.catalogue.filter((code) => {
    const text = fold(`${code.codigo} ${code.descripcion} ${code.gravedad_nombre || ""}`);
    return words.every((word) => text.includes(word));
  });
  const kept = chosen && !matches.some((code) => code.codigo === chosen) ? state.catalogue.filter((code) => code.codigo === chosen) : [];
  const none = words.length ? `— Sin código (${matches.length} de ${state.catalogue.length} coinciden) —` : "— Sin código —";
  select.replaceChildren(
    h("option", { value: "" }, none),
    ...[...kept, ...matches].map((code) => h("option", { value: code.codigo }, codeLabel(code))),
  );
  select.value = chosen;
  renderCodeHint();
}

export function renderCodeHint() {
  const code = state.catalogue.find((entry) => entry.codigo === $("codigo").value);
  let hint;
  if (code) {
    const fine = code.multa_utm ? ` · multa de ${code.multa_utm.min.replace(".", ",")} a ${code.multa_utm.max.replace(".", ",")} UTM` : "";
    hint = `${code.gravedad_nombre || code.gravedad}${fine}${code.articulo ? ` · ${code.articulo}` : ""}`;
  } else if (state.catalogue.length) {
    hint = `Catálogo guardado en el teléfono (${state.catalogue.length} infracciones, actualizado el ${formatLocal(state.catalogueDate)}).`;
  } else {
    hint = "El catálogo aún no está en el teléfono: se descarga con señal. Puede guardar la infracción sin código.";
  }
  $("codigo-ayuda").textContent = hint;
}

export function wireCatalogue() {
  $("buscar-codigo").addEventListener("input", renderCodes);
  $("codigo").addEventListener("change", renderCodeHint);
}

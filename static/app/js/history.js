// "Enviadas": the last captures the server recorded from this phone, with their number on the server.

import { $, h } from "./dom.js";
import * as store from "./store.js";
import { formatLocal } from "./time.js";

function historyItem(entry) {
  return h(
    "li",
    { class: "item item-historial" },
    h("div", { class: "item-head" }, h("span", { class: "plate" }, entry.placa_patente), h("span", { class: "badge badge-ok" }, "Registrada")),
    h("p", { class: "item-meta" }, formatLocal(entry.timestamp, { seconds: true }), entry.codigo ? ` · ${entry.codigo}` : "",
      entry.descripcion ? ` ${entry.descripcion}` : ""),
    h("p", { class: "small" }, "N° de registro ", h("code", { class: "server-id" }, entry.servidor_id)),
    h("p", { class: "muted small" }, `Enviada el ${formatLocal(entry.enviada_en)}${entry.fotos ? ` · ${entry.fotos} foto${entry.fotos === 1 ? "" : "s"}` : ""}`),
  );
}

export async function renderHistory() {
  const entries = await store.history();
  $("lista-historial").replaceChildren(
    ...(entries.length ? entries.map(historyItem) : [h("li", { class: "empty" }, "Todavía no hay infracciones enviadas desde este teléfono.")]),
  );
}

// "Por enviar": the captures the server has not fully acknowledged, each with its state (pending with its last
// error, sending, sent with its photos uploading, refused with the server's message and what to do), and the
// officer's actions on them (correct, discard, drop a refused photo).

import { $, h } from "./dom.js";
import { correct } from "./form.js";
import { advice, fieldName } from "./rejection.js";
import { outbox, state } from "./state.js";
import * as store from "./store.js";
import { formatClock, formatLocal } from "./time.js";

function badge(capture) {
  if (outbox.sending === capture.id) return h("span", { class: "badge badge-busy" }, "Enviando…");
  if (capture.estado === "rechazada") return h("span", { class: "badge badge-error" }, "Rechazada");
  if (capture.estado === "enviada") return h("span", { class: "badge badge-ok" }, "Enviada");
  return h("span", { class: "badge badge-wait" }, "Pendiente");
}

function photoLine(photos) {
  if (!photos.length) return null;
  const sent = photos.filter((photo) => photo.estado === "enviada").length;
  return h(
    "div",
    { class: "item-photos" },
    h("p", { class: "small" }, `Fotos: ${sent} de ${photos.length} subidas.`),
    ...photos
      .filter((photo) => photo.estado === "rechazada")
      .map((photo) =>
        h(
          "p",
          { class: "error small" },
          `Una foto fue rechazada: ${photo.rechazo.detalle} `,
          h("button", {
            type: "button",
            class: "secondary small-button",
            onclick: async () => {
              await store.deletePhoto(photo.id);
              outbox.sync({ now: true });
            },
          }, "Quitar esa foto"),
        ),
      ),
  );
}

/** The plate, the state, the time and offence, and the photos' thumbnails. */
function summary(capture, photos) {
  const body = capture.cuerpo;
  const parts = [
    h("div", { class: "item-head" }, h("span", { class: "plate" }, body.placa_patente), badge(capture)),
    h("p", { class: "item-meta" }, formatLocal(body.timestamp, { seconds: true }), body.codigo ? ` · ${body.codigo}` : "",
      capture.descripcion ? ` ${capture.descripcion}` : ""),
  ];
  if (photos.length) {
    parts.push(h("div", { class: "mini-thumbs" }, ...photos.map((photo, i) => h("img", { src: photo.miniatura, alt: `Foto ${i + 1}`, width: 48, height: 48 }))));
  }
  return parts;
}

function pendingLine(capture) {
  const when = capture.proximo_intento > Date.now() ? ` Próximo intento a las ${formatClock(capture.proximo_intento)}.` : "";
  let text = capture.ultimo_error
    ? `No se pudo enviar (intento ${capture.intentos}): ${capture.ultimo_error}${when}`
    : "Se enviará en cuanto haya señal.";
  if (state.session.rechazado) text = "Espera un token válido: se enviará en cuanto inscriba uno.";
  return h("p", { class: "muted small status-line" }, text);
}

function rejectionLines(rejection) {
  const details = (rejection.errores || []).filter((error) => error.mensaje !== rejection.detalle);
  return [
    h("p", { class: "error rejection" }, rejection.detalle),
    details.length ? h("ul", { class: "small" }, ...details.map((error) => h("li", {}, `${fieldName(error.campo)}: ${error.mensaje}`))) : null,
    h("p", { class: "advice" }, h("strong", {}, "Qué hacer: "), advice(rejection)),
  ];
}

/** What the capture's state says: whose it is, why it waits, why it was refused, or its number on the server. */
function status(capture, photos, mine) {
  const parts = [];
  if (!mine) {
    parts.push(h("p", { class: "note" }, `Capturada por el oficial N° ${capture.oficial_numero}: no se envía con el token de otro oficial. Inscriba el token de ese oficial, o descártela.`));
  }
  if (capture.estado === "pendiente" && mine) parts.push(pendingLine(capture));
  if (capture.estado === "rechazada") parts.push(...rejectionLines(capture.rechazo));
  if (capture.estado === "enviada") {
    parts.push(h("p", { class: "small" }, "Registrada con el N° ", h("code", {}, capture.servidor.id), "."), photoLine(photos));
  }
  return parts;
}

/** "Descartar", which asks once more before removing the capture from the phone. */
function discardButtons(capture) {
  if (state.confirming !== capture.id) {
    return [h("button", { type: "button", class: "secondary", onclick: () => {
      state.confirming = capture.id;
      renderQueue();
    } }, "Descartar")];
  }
  return [
    h("button", { type: "button", class: "danger", onclick: async () => {
      state.confirming = null;
      await store.discard(capture.id);
      await renderQueue();
    } }, "Sí, descartarla"),
    h("button", { type: "button", class: "secondary", onclick: () => {
      state.confirming = null;
      renderQueue();
    } }, "No"),
  ];
}

function actions(capture, mine) {
  const buttons = [];
  if (capture.estado === "rechazada" && mine) {
    buttons.push(h("button", { type: "button", onclick: () => correct(capture) }, "Corregir"));
  }
  if (capture.estado === "rechazada" || !mine) buttons.push(...discardButtons(capture));
  return buttons;
}

async function queueEntry(capture) {
  const photos = await store.photosOf(capture.id);
  const mine = state.session && capture.oficial_numero === state.session.numero;
  const parts = [...summary(capture, photos), ...status(capture, photos, mine)];
  const buttons = actions(capture, mine);
  if (buttons.length) parts.push(h("div", { class: "actions" }, ...buttons));
  return h("li", { class: `item item-${capture.estado}`, dataset: { id: capture.id, estado: capture.estado } }, ...parts);
}

export async function renderQueue() {
  const captures = await store.items();
  $("lista-cola").replaceChildren(...(await Promise.all(captures.map(queueEntry))));
  const waiting = captures.filter((capture) => capture.estado !== "rechazada").length;
  const rejected = captures.length - waiting;
  const counter = $("contador");
  counter.textContent = String(captures.length);
  counter.hidden = !captures.length;
  const parts = [];
  if (waiting) parts.push(`${waiting} por enviar`);
  if (rejected === 1) parts.push("1 rechazada (corríjala o descártela)");
  if (rejected > 1) parts.push(`${rejected} rechazadas (corríjalas o descártelas)`);
  let summary = parts.length ? `${parts.join(", ")}.` : "No hay infracciones por enviar: todas llegaron al servidor.";
  if (waiting && navigator.onLine === false) summary += " Sin señal: se enviarán al volver.";
  $("cola-resumen").textContent = summary;
}

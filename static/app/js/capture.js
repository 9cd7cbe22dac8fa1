// Saving the form into the queue on the phone: the capture with its Idempotency-Key (made here, before anything
// is sent) and its photos, in one transaction; then the outbox sends it when it can.

import { $, show } from "./dom.js";
import { readForm, resetForm } from "./form.js";
import { uuid } from "./ids.js";
import { renderQueue } from "./queue.js";
import { showSection } from "./shell.js";
import { outbox, state } from "./state.js";
import * as store from "./store.js";

/** The queue's record of the form's body: a new capture, or the correction of `editing`. */
function queued(body, session, editing) {
  const code = state.catalogue.find((entry) => entry.codigo === body.codigo);
  return {
    ...(editing || {}),
    id: editing ? editing.id : uuid(),
    clave: uuid(), // made here, before anything is sent; a correction is a new request
    oficial_numero: editing ? editing.oficial_numero : session.numero,
    cuerpo: body,
    descripcion: code ? code.descripcion : null,
    estado: "pendiente",
    creada_en: editing ? editing.creada_en : Date.now(),
    intentos: 0,
    proximo_intento: 0,
    ultimo_error: null,
    rechazo: null,
    servidor: null,
  };
}

/** The form's photos not yet in the queue, as the queue's records of capture `id`. */
function photoRecords(id) {
  const fresh = state.photos.filter((photo) => !photo.guardada);
  return fresh.map((photo, index) => ({
    id: uuid(),
    item: id,
    orden: Date.now() + index,
    blob: photo.blob,
    tipo: photo.tipo,
    bytes: photo.bytes,
    miniatura: photo.miniatura,
    reducida: photo.reducida,
    estado: "pendiente",
  }));
}

/** Write the capture and its photos on the phone (a correction drops the photos the officer removed). */
async function keep(capture, records, editing) {
  if (editing) {
    const kept = new Set(state.photos.filter((photo) => photo.guardada).map((photo) => photo.guardada));
    const removed = (await store.photosOf(capture.id)).map((photo) => photo.id).filter((photoId) => !kept.has(photoId));
    await store.replaceCapture(capture, records, removed);
  } else {
    await store.addCapture(capture, records);
  }
}

function notice(text) {
  $("aviso-guardada").textContent = text;
  show("aviso-guardada", true);
}

async function saveCapture(event) {
  event.preventDefault();
  const session = state.session;
  const body = readForm();
  if (!body || !session) return;
  const editing = state.editing;
  const capture = queued(body, session, editing);
  const records = photoRecords(capture.id);
  $("guardar").disabled = true;
  try {
    await keep(capture, records, editing);
  } catch (error) {
    notice(`No se pudo guardar en el teléfono: ${error.message}`);
    return;
  } finally {
    $("guardar").disabled = false;
  }
  resetForm();
  const where = navigator.onLine === false ? "Se enviará cuando vuelva la señal." : "Enviándola…";
  notice(`Infracción ${body.placa_patente} guardada en el teléfono. ${where}`);
  await renderQueue();
  outbox.sync({ now: true });
}

export function wireCapture() {
  $("form-captura").addEventListener("submit", saveCapture);
  $("cancelar-correccion").addEventListener("click", () => {
    resetForm();
    showSection("cola");
  });
}

// The officers' app: enrolment, capture, the queue on the phone and its history. Spanish on screen; every text
// from the server is put on the page as text (never as HTML).

import * as api from "./api.js";
import { Outbox } from "./outbox.js";
import { MAX_PHOTOS, preparePhoto, sizeText } from "./photos.js";
import { PLATE_HINT, PLATE_MESSAGE, isValidPlate, normalizePlate } from "./plate.js";
import * as store from "./store.js";
import { formatClock, formatLocal, fromInput, inputValue, isoWithOffset, zoneName } from "./time.js";

const MAX_FUTURE_MS = 5 * 60_000; // the server's tolerance for a phone's clock
const MAX_PRECISION_M = 10_000; // the server refuses a position vaguer than 10 km

const $ = (id) => document.getElementById(id);
const outbox = new Outbox();
const state = {
  session: null,
  catalogue: [],
  catalogueDate: null,
  photos: [], // the form's photos: {key, blob, tipo, bytes, miniatura, reducida, guardada (an id already in the queue)}
  location: null,
  editing: null, // the rejected capture being corrected
  confirming: null, // id of the capture whose "Descartar" waits for a second tap
  timeEdited: false, // until the officer changes the time, it follows the clock (and is taken when saving)
  section: "captura",
};

// -- small DOM helpers ---------------------------------------------------------------------------------------
function h(tag, attributes = {}, ...children) {
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

function show(id, visible) {
  $(id).hidden = !visible;
}

function setError(id, message) {
  const element = $(id);
  element.textContent = message || "";
  element.hidden = !message;
  const input = document.querySelector(`[aria-describedby~="${id}"]`);
  if (input && message) input.setAttribute("aria-invalid", "true");
  else if (input) input.removeAttribute("aria-invalid");
}

/** A random UUID (version 4): crypto.randomUUID where the page is a secure context, else from getRandomValues. */
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const fold = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
const decimal = (value, digits) => value.toFixed(digits).replace(".", ",");

// -- enrolment -----------------------------------------------------------------------------------------------
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

async function enrol(text) {
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

/** Ask the server who this token is (a 401 means asking for a new one; no signal leaves it to check later). */
async function verify() {
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

// -- the catalogue -------------------------------------------------------------------------------------------
async function loadCatalogue() {
  const copy = await store.setting("catalogo");
  state.catalogue = copy ? copy.codigos : [];
  state.catalogueDate = copy ? copy.actualizado_en : null;
  renderCodes();
}

async function refreshCatalogue() {
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

function renderCodes() {
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

function renderCodeHint() {
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

// -- the capture form ----------------------------------------------------------------------------------------
function renderPlate() {
  const raw = $("placa").value;
  const plate = normalizePlate(raw);
  $("placa-normalizada").textContent = raw && plate !== raw ? `Se registrará como ${plate}` : "";
  if (!$("placa-error").hidden && isValidPlate(plate)) setError("placa-error", "");
}

function setNow() {
  state.timeEdited = false;
  $("momento").value = inputValue(new Date());
  setError("momento-error", "");
}

function followClock() {
  if (!state.timeEdited && document.activeElement !== $("momento")) $("momento").value = inputValue(new Date());
}

function renderLocation(message) {
  const place = state.location;
  $("ubicacion-estado").textContent =
    message ||
    (place
      ? `Latitud ${decimal(place.latitud, 5)}, longitud ${decimal(place.longitud, 5)} · precisión ± ${Math.round(place.precision_m)} m`
      : "Sin ubicación.");
  show("quitar-ubicacion", Boolean(place));
  $("ubicar").textContent = place ? "Actualizar la ubicación" : "Agregar mi ubicación";
}

function locate() {
  if (!("geolocation" in navigator)) {
    renderLocation("Este teléfono no entrega su ubicación. Puede guardar la infracción sin ella.");
    return;
  }
  $("ubicar").disabled = true;
  renderLocation("Buscando la ubicación…");
  navigator.geolocation.getCurrentPosition(
    (position) => {
      $("ubicar").disabled = false;
      const { latitude, longitude, accuracy } = position.coords;
      if (accuracy > MAX_PRECISION_M) {
        state.location = null;
        renderLocation(`La ubicación es demasiado imprecisa (± ${Math.round(accuracy / 1000)} km); no se agregará.`);
        return;
      }
      state.location = { latitud: latitude, longitud: longitude, precision_m: Math.round(accuracy * 10) / 10 };
      renderLocation();
    },
    (error) => {
      $("ubicar").disabled = false;
      state.location = null;
      const reasons = {
        1: "No hay permiso para usar la ubicación. Puede guardar la infracción sin ella, o permitirla en los ajustes del navegador.",
        2: "No se pudo determinar la ubicación (sin GPS ni red). Puede guardar la infracción sin ella.",
        3: "La ubicación tardó demasiado. Intente de nuevo o guarde la infracción sin ella.",
      };
      renderLocation(reasons[error.code] || reasons[2]);
    },
    { enableHighAccuracy: true, timeout: 20_000, maximumAge: 30_000 },
  );
}

async function addPhotos(files) {
  setError("fotos-error", "");
  const room = MAX_PHOTOS - state.photos.length;
  const chosen = [...files];
  if (chosen.length > room) setError("fotos-error", `Se aceptan hasta ${MAX_PHOTOS} fotos por infracción.`);
  for (const file of chosen.slice(0, Math.max(0, room))) {
    try {
      state.photos.push({ key: uuid(), ...(await preparePhoto(file)) });
    } catch (error) {
      setError("fotos-error", error.message);
    }
  }
  renderPhotos();
}

function renderPhotos() {
  $("lista-fotos").replaceChildren(
    ...state.photos.map((photo, index) =>
      h(
        "li",
        {},
        h("img", { src: photo.miniatura, alt: `Foto ${index + 1}`, width: 80, height: 80 }),
        h("span", { class: "small" }, `${sizeText(photo.bytes)}${photo.reducida ? " (reducida)" : ""}`),
        h("button", {
          type: "button",
          class: "secondary small-button",
          "aria-label": `Quitar la foto ${index + 1}`,
          onclick: () => {
            state.photos = state.photos.filter((other) => other.key !== photo.key);
            renderPhotos();
          },
        }, "Quitar"),
      ),
    ),
  );
  $("fotos-ayuda").textContent = state.photos.length
    ? `${state.photos.length} de ${MAX_PHOTOS} fotos. Se suben después de registrar la infracción.`
    : `Hasta ${MAX_PHOTOS} fotos. Se suben después de registrar la infracción.`;
}

function resetForm() {
  $("form-captura").reset();
  state.photos = [];
  state.location = null;
  state.editing = null;
  $("buscar-codigo").value = "";
  setNow();
  renderCodes();
  renderPlate();
  renderPhotos();
  renderLocation();
  for (const id of ["placa-error", "momento-error", "fotos-error"]) setError(id, "");
  show("correccion", false);
  show("cancelar-correccion", false);
  $("guardar").textContent = "Guardar infracción";
}

/** The form as the API's body, or null after showing what is wrong. */
function readForm() {
  const plate = normalizePlate($("placa").value);
  followClock(); // an untouched time is the moment of saving
  const when = fromInput($("momento").value);
  setError("placa-error", isValidPlate(plate) ? "" : PLATE_MESSAGE);
  if (!when) setError("momento-error", "Indique la fecha y hora de la infracción.");
  else if (when.getTime() > Date.now() + MAX_FUTURE_MS) setError("momento-error", "La fecha y hora está en el futuro.");
  else setError("momento-error", "");
  const wrong = document.querySelector("#form-captura [aria-invalid]");
  if (wrong) {
    wrong.focus();
    return null;
  }
  const body = { placa_patente: plate, timestamp: isoWithOffset(when), comentarios: $("comentarios").value.trim() };
  if ($("codigo").value) body.codigo = $("codigo").value;
  if (state.location) body.ubicacion = { ...state.location };
  return body;
}

async function saveCapture(event) {
  event.preventDefault();
  const session = state.session;
  const body = readForm();
  if (!body || !session) return;
  const code = state.catalogue.find((entry) => entry.codigo === body.codigo);
  const editing = state.editing;
  const id = editing ? editing.id : uuid();
  const capture = {
    ...(editing || {}),
    id,
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
  const fresh = state.photos.filter((photo) => !photo.guardada);
  const records = fresh.map((photo, index) => ({
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
  $("guardar").disabled = true;
  try {
    if (editing) {
      const kept = new Set(state.photos.filter((photo) => photo.guardada).map((photo) => photo.guardada));
      const removed = (await store.photosOf(id)).map((photo) => photo.id).filter((photoId) => !kept.has(photoId));
      await store.replaceCapture(capture, records, removed);
    } else {
      await store.addCapture(capture, records);
    }
  } catch (error) {
    $("aviso-guardada").textContent = `No se pudo guardar en el teléfono: ${error.message}`;
    show("aviso-guardada", true);
    return;
  } finally {
    $("guardar").disabled = false;
  }
  resetForm();
  const where = navigator.onLine === false ? "Se enviará cuando vuelva la señal." : "Enviándola…";
  $("aviso-guardada").textContent = `Infracción ${body.placa_patente} guardada en el teléfono. ${where}`;
  show("aviso-guardada", true);
  await renderQueue();
  outbox.sync({ now: true });
}

async function correct(capture) {
  resetForm();
  state.editing = capture;
  const body = capture.cuerpo;
  $("placa").value = body.placa_patente;
  $("momento").value = inputValue(new Date(body.timestamp));
  state.timeEdited = true; // the time of the observation, not of the correction
  $("comentarios").value = body.comentarios || "";
  renderCodes();
  if (body.codigo && !state.catalogue.some((code) => code.codigo === body.codigo)) {
    $("codigo").append(h("option", { value: body.codigo }, body.codigo));
  }
  $("codigo").value = body.codigo || "";
  renderCodeHint();
  state.location = body.ubicacion || null;
  renderLocation();
  state.photos = (await store.photosOf(capture.id)).map((photo) => ({ ...photo, key: photo.id, guardada: photo.id }));
  renderPhotos();
  renderPlate();
  show("correccion", true);
  show("cancelar-correccion", true);
  show("aviso-guardada", false);
  $("guardar").textContent = "Guardar y volver a enviar";
  showSection("captura");
  const field = fieldOf(capture.rechazo);
  (field ? $(field) : $("placa")).focus();
}

// -- the queue and the history -------------------------------------------------------------------------------
const FIELDS = { placa_patente: "placa", timestamp: "momento", codigo: "codigo", comentarios: "comentarios" };
const FIELD_NAMES = { placa_patente: "Placa patente", timestamp: "Fecha y hora", codigo: "Infracción", comentarios: "Comentarios" };

function fieldName(field) {
  if (field.startsWith("ubicacion")) return "Ubicación";
  return FIELD_NAMES[field] || field;
}

function fieldOf(rejection) {
  const named = ((rejection && rejection.errores) || []).map((error) => FIELDS[error.campo]).find(Boolean);
  return named || null;
}

/** What the officer can do about a refusal, in the server's terms. */
function advice(rejection) {
  const fields = (rejection.errores || []).map((error) => error.campo);
  if (fields.includes("placa_patente") && rejection.status === 404) {
    return "Revise la placa patente. Si está mal escrita, corríjala y vuelva a enviarla; si está bien, el vehículo no está registrado: descarte esta infracción e infórmelo a la administración.";
  }
  if (fields.includes("placa_patente")) return "Corrija la placa patente y vuelva a enviarla.";
  if (fields.includes("codigo")) return "Elija otra infracción del catálogo (o ninguna) y vuelva a enviarla.";
  if (fields.includes("timestamp")) return "Corrija la fecha y hora y vuelva a enviarla, o descártela si ya no se puede registrar.";
  if (fields.some((field) => field.startsWith("ubicacion"))) return "Quite la ubicación y vuelva a enviarla.";
  if (fields.includes("comentarios")) return "Corrija los comentarios y vuelva a enviarla.";
  return "Corrija los datos y vuelva a enviarla, o descártela.";
}

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

async function queueEntry(capture) {
  const photos = await store.photosOf(capture.id);
  const body = capture.cuerpo;
  const mine = state.session && capture.oficial_numero === state.session.numero;
  const parts = [
    h("div", { class: "item-head" }, h("span", { class: "plate" }, body.placa_patente), badge(capture)),
    h("p", { class: "item-meta" }, formatLocal(body.timestamp, { seconds: true }), body.codigo ? ` · ${body.codigo}` : "",
      capture.descripcion ? ` ${capture.descripcion}` : ""),
  ];
  if (photos.length) {
    parts.push(h("div", { class: "mini-thumbs" }, ...photos.map((photo, i) => h("img", { src: photo.miniatura, alt: `Foto ${i + 1}`, width: 48, height: 48 }))));
  }
  if (!mine) {
    parts.push(h("p", { class: "note" }, `Capturada por el oficial N° ${capture.oficial_numero}: no se envía con el token de otro oficial. Inscriba el token de ese oficial, o descártela.`));
  }
  if (capture.estado === "pendiente" && mine) {
    const when = capture.proximo_intento > Date.now() ? ` Próximo intento a las ${formatClock(capture.proximo_intento)}.` : "";
    let text = capture.ultimo_error
      ? `No se pudo enviar (intento ${capture.intentos}): ${capture.ultimo_error}${when}`
      : "Se enviará en cuanto haya señal.";
    if (state.session.rechazado) text = "Espera un token válido: se enviará en cuanto inscriba uno.";
    parts.push(h("p", { class: "muted small status-line" }, text));
  }
  if (capture.estado === "rechazada") {
    const rejection = capture.rechazo;
    const details = (rejection.errores || []).filter((error) => error.mensaje !== rejection.detalle);
    parts.push(
      h("p", { class: "error rejection" }, rejection.detalle),
      details.length ? h("ul", { class: "small" }, ...details.map((error) => h("li", {}, `${fieldName(error.campo)}: ${error.mensaje}`))) : null,
      h("p", { class: "advice" }, h("strong", {}, "Qué hacer: "), advice(rejection)),
    );
  }
  if (capture.estado === "enviada") {
    parts.push(h("p", { class: "small" }, "Registrada con el N° ", h("code", {}, capture.servidor.id), "."), photoLine(photos));
  }
  const actions = [];
  if (capture.estado === "rechazada" && mine) {
    actions.push(h("button", { type: "button", onclick: () => correct(capture) }, "Corregir"));
  }
  if (capture.estado === "rechazada" || !mine) {
    if (state.confirming === capture.id) {
      actions.push(
        h("button", { type: "button", class: "danger", onclick: async () => {
          state.confirming = null;
          await store.discard(capture.id);
          await renderQueue();
        } }, "Sí, descartarla"),
        h("button", { type: "button", class: "secondary", onclick: () => {
          state.confirming = null;
          renderQueue();
        } }, "No"),
      );
    } else {
      actions.push(h("button", { type: "button", class: "secondary", onclick: () => {
        state.confirming = capture.id;
        renderQueue();
      } }, "Descartar"));
    }
  }
  if (actions.length) parts.push(h("div", { class: "actions" }, ...actions));
  return h("li", { class: `item item-${capture.estado}`, dataset: { id: capture.id, estado: capture.estado } }, ...parts);
}

async function renderQueue() {
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

async function renderHistory() {
  const entries = await store.history();
  $("lista-historial").replaceChildren(
    ...(entries.length
      ? entries.map((entry) =>
          h(
            "li",
            { class: "item item-historial" },
            h("div", { class: "item-head" }, h("span", { class: "plate" }, entry.placa_patente), h("span", { class: "badge badge-ok" }, "Registrada")),
            h("p", { class: "item-meta" }, formatLocal(entry.timestamp, { seconds: true }), entry.codigo ? ` · ${entry.codigo}` : "",
              entry.descripcion ? ` ${entry.descripcion}` : ""),
            h("p", { class: "small" }, "N° de registro ", h("code", { class: "server-id" }, entry.servidor_id)),
            h("p", { class: "muted small" }, `Enviada el ${formatLocal(entry.enviada_en)}${entry.fotos ? ` · ${entry.fotos} foto${entry.fotos === 1 ? "" : "s"}` : ""}`),
          ),
        )
      : [h("li", { class: "empty" }, "Todavía no hay infracciones enviadas desde este teléfono.")]),
  );
}

// -- the page ------------------------------------------------------------------------------------------------
function showSection(name) {
  state.section = name;
  for (const button of document.querySelectorAll("#secciones button")) {
    if (button.dataset.seccion === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  render();
  if (name === "cola") renderQueue();
  if (name === "historial") renderHistory();
}

function renderNetwork() {
  const offline = navigator.onLine === false;
  $("red").textContent = offline ? "Sin señal" : "En línea";
  $("red").title = offline ? "Lo que guarde queda en el teléfono y se envía al volver la señal." : "";
  $("red").classList.toggle("offline", offline);
}

function render() {
  const session = state.session;
  const enrolled = Boolean(session);
  const asking = !enrolled || session.rechazado || state.changingToken;
  show("cargando", false);
  show("aviso-token", Boolean(session && session.rechazado));
  $("aviso-token-motivo").textContent = session && session.motivo ? session.motivo : "";
  show("inscripcion", asking);
  show("cancelar-token", Boolean(enrolled && state.changingToken && !session.rechazado));
  show("quien", enrolled);
  show("secciones", enrolled);
  show("cuenta", enrolled);
  for (const name of ["captura", "cola", "historial"]) show(name, enrolled && state.section === name);
  if (!enrolled) return;
  const name = session.nombre ? ` · ${session.nombre}` : "";
  $("quien-oficial").textContent = `Oficial N° ${session.numero}${name}`;
  const label = session.etiqueta ? `Token «${session.etiqueta}»` : "Token";
  const expires = session.expira_en ? ["vence el ", h("span", { class: "nowrap" }, formatLocal(session.expira_en))] : ["sin fecha de vencimiento"];
  const expired = session.expira_en && session.expira_en < Date.now() ? " (vencido: pida uno nuevo)" : "";
  const checked = session.verificado ? "" : " · sin verificar: se confirmará con señal";
  $("quien-token").replaceChildren(`${label} · `, ...expires, expired, checked);
}

async function tokenRefused(detalle) {
  state.session = await store.setting("sesion");
  if (state.session && !state.session.rechazado) {
    state.session = { ...state.session, rechazado: true, motivo: detalle };
    await store.saveSetting("sesion", state.session);
  }
  render();
}

function enrolFromLink() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search); // the token leaves the address bar
  return match[1];
}

function wire() {
  $("placa-ayuda").textContent = PLATE_HINT;
  const zone = zoneName();
  $("momento-ayuda").textContent = `Hora de este teléfono${zone ? ` (${zone})` : ""}; cámbiela si la infracción fue antes.`;
  $("placa").addEventListener("input", renderPlate);
  $("ahora").addEventListener("click", setNow);
  $("momento").addEventListener("input", () => {
    state.timeEdited = true;
  });
  setInterval(followClock, 15_000);
  $("buscar-codigo").addEventListener("input", renderCodes);
  $("codigo").addEventListener("change", renderCodeHint);
  $("ubicar").addEventListener("click", locate);
  $("quitar-ubicacion").addEventListener("click", () => {
    state.location = null;
    renderLocation();
  });
  $("fotos").addEventListener("change", async (event) => {
    await addPhotos(event.target.files);
    event.target.value = "";
  });
  $("form-captura").addEventListener("submit", saveCapture);
  $("cancelar-correccion").addEventListener("click", () => {
    resetForm();
    showSection("cola");
  });
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
  for (const button of document.querySelectorAll("#secciones button")) {
    button.addEventListener("click", () => showSection(button.dataset.seccion));
  }
  $("enviar-ahora").addEventListener("click", () => outbox.sync({ now: true }));
  outbox.addEventListener("change", () => {
    renderQueue();
    if (state.section === "historial") renderHistory();
  });
  outbox.addEventListener("token", (event) => tokenRefused(event.detail));
  window.addEventListener("online", () => {
    renderNetwork();
    renderQueue();
    verify();
    refreshCatalogue();
    outbox.sync({ now: true });
  });
  window.addEventListener("offline", () => {
    renderNetwork();
    renderQueue();
  });
  // Chrome offers to install the app (manifest, icons, service worker): a button of ours instead of its banner.
  let installPrompt = null;
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    installPrompt = event;
    show("instalar", true);
  });
  $("instalar").addEventListener("click", async () => {
    if (!installPrompt) return;
    installPrompt.prompt();
    await installPrompt.userChoice;
    installPrompt = null;
    show("instalar", false);
  });
  window.addEventListener("appinstalled", () => show("instalar", false));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") outbox.sync();
  });
}

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js", { scope: "./" }).catch(() => {}); // without it the app still works online
  }
  wire();
  show("sin-https", !window.isSecureContext);
  renderNetwork();
  resetForm();
  const linked = enrolFromLink();
  state.session = await store.setting("sesion");
  await loadCatalogue();
  render();
  await renderQueue();
  if (linked) {
    if (!(await enrol(linked))) {
      state.changingToken = true; // a damaged link: show why, and let the officer paste the token
      render();
    }
  } else {
    await verify();
    refreshCatalogue();
    outbox.sync({ now: true });
  }
  document.body.dataset.listo = "1"; // for the tests: the app has read what the phone keeps
}

start();

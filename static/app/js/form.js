// The capture form: the plate (normalised as the server does), the time (following the phone's clock until the
// officer changes it), reading it into the API's body, emptying it, and reopening a refused capture to correct it.
// The offence, the location and the photos have their own modules (catalogue.js, location.js, photo-list.js).

import { renderCodeHint, renderCodes } from "./catalogue.js";
import { $, h, setError, show } from "./dom.js";
import { renderLocation } from "./location.js";
import { renderPhotos } from "./photo-list.js";
import { PLATE_HINT, PLATE_MESSAGE, isValidPlate, normalizePlate } from "./plate.js";
import { fieldOf } from "./rejection.js";
import { showSection } from "./shell.js";
import { state } from "./state.js";
import * as store from "./store.js";
import { fromInput, inputValue, isoWithOffset, zoneName } from "./time.js";

const MAX_FUTURE_MS = 5 * 60_000; // the server's tolerance for a phone's clock

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

export function resetForm() {
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
export function readForm() {
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

/** Reopen a refused capture in the form, on the field the server named. */
export async function correct(capture) {
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

export function wireForm() {
  $("placa-ayuda").textContent = PLATE_HINT;
  const zone = zoneName();
  $("momento-ayuda").textContent = `Hora de este teléfono${zone ? ` (${zone})` : ""}; cámbiela si la infracción fue antes.`;
  $("placa").addEventListener("input", renderPlate);
  $("ahora").addEventListener("click", setNow);
  $("momento").addEventListener("input", () => {
    state.timeEdited = true;
  });
  setInterval(followClock, 15_000);
}

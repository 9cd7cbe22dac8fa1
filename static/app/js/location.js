// The capture's location: the phone's position with its accuracy, when the officer asks for it and allows it.

import { $, show } from "./dom.js";
import { state } from "./state.js";

const MAX_PRECISION_M = 10_000; // the server refuses a position vaguer than 10 km
const REASONS = {
  1: "No hay permiso para usar la ubicación. Puede guardar la infracción sin ella, o permitirla en los ajustes del navegador.",
  2: "No se pudo determinar la ubicación (sin GPS ni red). Puede guardar la infracción sin ella.",
  3: "La ubicación tardó demasiado. Intente de nuevo o guarde la infracción sin ella.",
};

const decimal = (value, digits) => value.toFixed(digits).replace(".", ",");

export function renderLocation(message) {
  const place = state.location;
  $("ubicacion-estado").textContent =
    message ||
    (place
      ? `Latitud ${decimal(place.latitud, 5)}, longitud ${decimal(place.longitud, 5)} · precisión ± ${Math.round(place.precision_m)} m`
      : "Sin ubicación.");
  show("quitar-ubicacion", Boolean(place));
  $("ubicar").textContent = place ? "Actualizar la ubicación" : "Agregar mi ubicación";
}

function located(position) {
  $("ubicar").disabled = false;
  const { latitude, longitude, accuracy } = position.coords;
  if (accuracy > MAX_PRECISION_M) {
    state.location = null;
    renderLocation(`La ubicación es demasiado imprecisa (± ${Math.round(accuracy / 1000)} km); no se agregará.`);
    return;
  }
  state.location = { latitud: latitude, longitud: longitude, precision_m: Math.round(accuracy * 10) / 10 };
  renderLocation();
}

function notLocated(error) {
  $("ubicar").disabled = false;
  state.location = null;
  renderLocation(REASONS[error.code] || REASONS[2]);
}

function locate() {
  if (!("geolocation" in navigator)) {
    renderLocation("Este teléfono no entrega su ubicación. Puede guardar la infracción sin ella.");
    return;
  }
  $("ubicar").disabled = true;
  renderLocation("Buscando la ubicación…");
  navigator.geolocation.getCurrentPosition(located, notLocated, { enableHighAccuracy: true, timeout: 20_000, maximumAge: 30_000 });
}

export function wireLocation() {
  $("ubicar").addEventListener("click", locate);
  $("quitar-ubicacion").addEventListener("click", () => {
    state.location = null;
    renderLocation();
  });
}

// The officers' app: enrolment, capture, the queue on the phone and its history. Spanish on screen; every text
// from the server is put on the page as text (never as HTML). This module starts the app and ties its parts
// together: the screens live in their own modules, the queue's sending in outbox.js.

import { wireCapture } from "./capture.js";
import { loadCatalogue, refreshCatalogue, wireCatalogue } from "./catalogue.js";
import { $, show } from "./dom.js";
import { enrol, enrolFromLink, wireEnrolment } from "./enrolment.js";
import { resetForm, wireForm } from "./form.js";
import { renderHistory } from "./history.js";
import { registerServiceWorker, wireInstall } from "./install.js";
import { wireLocation } from "./location.js";
import { wirePhotos } from "./photo-list.js";
import { renderQueue } from "./queue.js";
import { tokenRefused, verify } from "./session.js";
import { render, renderNetwork, whenShown, wireSections } from "./shell.js";
import { outbox, state } from "./state.js";
import * as store from "./store.js";

/** Sending the queue, and what its progress, the signal and the screen coming back change on the page. */
function wireSync() {
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
}

function wire() {
  whenShown("cola", renderQueue);
  whenShown("historial", renderHistory);
  wireForm();
  wireCatalogue();
  wireLocation();
  wirePhotos();
  wireCapture();
  wireEnrolment();
  wireSections();
  wireSync();
  wireInstall();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") outbox.sync();
  });
}

async function start() {
  registerServiceWorker();
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

// The app's frame: which screen is shown (the enrolment, or the sections once enrolled), who the phone is
// enrolled as, the section buttons and the signal indicator.

import { $, h, show } from "./dom.js";
import { state } from "./state.js";
import { formatLocal } from "./time.js";

const SECTIONS = ["captura", "cola", "historial"];
const drawers = new Map(); // what a section reads from the phone when it is shown (see whenShown)

/** Show the enrolment or the enrolled app, with who it is enrolled as. */
export function render() {
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
  for (const name of SECTIONS) show(name, enrolled && state.section === name);
  if (enrolled) renderWho(session);
}

function renderWho(session) {
  const name = session.nombre ? ` · ${session.nombre}` : "";
  $("quien-oficial").textContent = `Oficial N° ${session.numero}${name}`;
  const label = session.etiqueta ? `Token «${session.etiqueta}»` : "Token";
  const expires = session.expira_en ? ["vence el ", h("span", { class: "nowrap" }, formatLocal(session.expira_en))] : ["sin fecha de vencimiento"];
  const expired = session.expira_en && session.expira_en < Date.now() ? " (vencido: pida uno nuevo)" : "";
  const checked = session.verificado ? "" : " · sin verificar: se confirmará con señal";
  $("quien-token").replaceChildren(`${label} · `, ...expires, expired, checked);
}

/** `draw()` runs each time the section `name` is shown (the queue and the history are read from the phone then). */
export function whenShown(name, draw) {
  drawers.set(name, draw);
}

export function showSection(name) {
  state.section = name;
  for (const button of document.querySelectorAll("#secciones button")) {
    if (button.dataset.seccion === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  render();
  const draw = drawers.get(name);
  if (draw) draw();
}

export function renderNetwork() {
  const offline = navigator.onLine === false;
  $("red").textContent = offline ? "Sin señal" : "En línea";
  $("red").title = offline ? "Lo que guarde queda en el teléfono y se envía al volver la señal." : "";
  $("red").classList.toggle("offline", offline);
}

export function wireSections() {
  for (const button of document.querySelectorAll("#secciones button")) {
    button.addEventListener("click", () => showSection(button.dataset.seccion));
  }
}

// The queue's sending: every capture was stored on the phone with its Idempotency-Key before anything is sent, so
// sending is always "send what is in the queue", as often as needed, and a repeat is harmless (the server answers
// a known key with the original infraction). A capture leaves the queue only when the server has acknowledged it
// and every one of its photos; a refusal (4xx) stays in the queue, with the server's message, until the officer
// corrects or discards it. Network errors and 5xx wait longer after each failure (back-off), until the signal
// returns, the app starts again, or the officer asks.

import * as api from "./api.js";
import * as store from "./store.js";

const FIRST_WAIT_MS = 2_000;
const LONGEST_WAIT_MS = 5 * 60_000;
const LOCK = "transito-cola";

/** How long to wait after the n-th failure in a row: 2 s, 4 s, 8 s ... up to 5 minutes, each ±25 % at random. */
export function backoff(failures) {
  const base = Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export class Outbox extends EventTarget {
  constructor() {
    super();
    this.running = null;
    this.again = false;
    this.againNow = false;
    this.timer = null;
    this.sending = null; // id of the capture on its way, for the screen
  }

  /** Send what is due; with `now`, everything that may be sent, whatever its back-off says. */
  sync({ now = false } = {}) {
    if (this.running) {
      this.again = true;
      this.againNow = this.againNow || now;
      return this.running;
    }
    this.running = (async () => {
      let force = now;
      try {
        do {
          this.again = false;
          await this.locked(() => this.pass(force));
          force = this.againNow;
          this.againNow = false;
        } while (this.again);
      } finally {
        this.running = null;
        this.sending = null;
        await this.schedule();
        this.changed();
      }
    })();
    return this.running;
  }

  /** One tab sends at a time (two tabs of the app would only repeat each other, harmlessly, but wastefully). */
  locked(work) {
    return navigator.locks ? navigator.locks.request(LOCK, work) : work();
  }

  async pass(force) {
    const session = await store.setting("sesion");
    if (!session || session.rechazado || navigator.onLine === false) return; // the "online" event brings us back
    for (const queued of await store.items()) {
      if (queued.oficial_numero !== session.numero || queued.estado === "rechazada") continue;
      if (!force && queued.proximo_intento > Date.now()) continue;
      const next = queued.estado === "pendiente" ? await this.send(queued, session) : await this.sendPhotos(queued, session);
      if (next === "parar") return; // no signal, server trouble or token refused: the rest would meet the same
    }
  }

  async send(queued, session) {
    this.sending = queued.id;
    this.changed();
    const answer = await api.loadInfraction(session.token, queued.clave, queued.cuerpo);
    if (answer.tipo === "ok" && typeof answer.data.id !== "string") {
      return this.failed(queued, session, { tipo: "reintentar", detalle: "La respuesta del servidor llegó incompleta." });
    }
    if (answer.tipo === "ok") {
      const sent = await store.updateItem(queued.id, (current) => ({
        ...current,
        estado: "enviada",
        servidor: {
          id: answer.data.id,
          placa_patente: answer.data.placa_patente,
          registrada_en: answer.data.registrada_en,
          repetida: answer.repetida,
        },
        intentos: 0,
        proximo_intento: 0,
        ultimo_error: null,
      }));
      this.changed();
      return sent ? this.sendPhotos(sent, session) : "seguir";
    }
    if (answer.tipo === "rechazo") {
      await store.updateItem(queued.id, (current) => ({
        ...current,
        estado: "rechazada",
        rechazo: { status: answer.status, detalle: answer.detalle, errores: answer.errores, solicitud: answer.solicitud },
        intentos: 0,
        proximo_intento: 0,
      }));
      this.changed();
      return "seguir";
    }
    return this.failed(queued, session, answer);
  }

  async sendPhotos(queued, session) {
    for (const photo of await store.photosOf(queued.id)) {
      if (photo.estado !== "pendiente") continue;
      this.sending = queued.id;
      this.changed();
      const answer = await api.uploadPhoto(session.token, queued.servidor.id, photo.blob, photo.tipo);
      if (answer.tipo === "ok") {
        await store.savePhoto({ ...photo, estado: "enviada", blob: null, servidor: { id: answer.data.id, sha256: answer.data.sha256 } });
      } else if (answer.tipo === "rechazo") {
        await store.savePhoto({ ...photo, estado: "rechazada", rechazo: { status: answer.status, detalle: answer.detalle } });
      } else {
        return this.failed(queued, session, answer);
      }
      this.changed();
    }
    const photos = await store.photosOf(queued.id);
    if (photos.every((photo) => photo.estado === "enviada")) {
      await store.complete(queued.id, historyEntry(queued, photos));
      this.changed();
    }
    return "seguir";
  }

  async failed(queued, session, answer) {
    if (answer.tipo === "token") {
      await this.tokenRefused(session, answer.detalle);
      return "parar";
    }
    await store.updateItem(queued.id, (current) => {
      const intentos = (current.intentos || 0) + 1;
      const wait = Math.max(backoff(intentos), (answer.esperarSegundos || 0) * 1000);
      return { ...current, intentos, proximo_intento: Date.now() + wait, ultimo_error: answer.detalle };
    });
    return "parar";
  }

  /** The server refused the token this phone holds: keep everything, ask for a new token. */
  async tokenRefused(session, detalle) {
    const current = await store.setting("sesion");
    if (current && current.token === session.token) {
      await store.saveSetting("sesion", { ...current, rechazado: true, motivo: detalle });
    }
    this.dispatchEvent(new CustomEvent("token", { detail: detalle }));
  }

  /** Wake up when the earliest waiting capture is due. */
  async schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    const session = await store.setting("sesion");
    if (!session || session.rechazado) return;
    const due = (await store.items())
      .filter((queued) => queued.oficial_numero === session.numero && queued.estado !== "rechazada" && queued.proximo_intento > 0)
      .map((queued) => queued.proximo_intento);
    if (due.length) {
      this.timer = setTimeout(() => this.sync(), Math.max(0, Math.min(...due) - Date.now()));
    }
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}

function historyEntry(queued, photos) {
  return {
    id: queued.id,
    servidor_id: queued.servidor.id,
    placa_patente: queued.servidor.placa_patente || queued.cuerpo.placa_patente,
    timestamp: queued.cuerpo.timestamp,
    codigo: queued.cuerpo.codigo || null,
    descripcion: queued.descripcion || null,
    fotos: photos.length,
    repetida: Boolean(queued.servidor.repetida),
    enviada_en: Date.now(),
  };
}

// What the app keeps on the phone, in IndexedDB (it survives closing the app, restarting the phone and going
// without signal):
//   ajustes    "sesion" (the token and who it belongs to) and "catalogo" (the offline copy of the codes, its ETag)
//   cola       captures not yet fully acknowledged by the server, oldest first
//   fotos      the photos of the captures in the queue (Blobs), uploaded after their infraction is acknowledged
//   historial  the last HISTORY_SIZE captures the server acknowledged, with its id
// A capture is written in one "strict" transaction (flushed to disk before it completes) before anything is sent.

const DB_NAME = "transito-oficial";
const DB_VERSION = 1;
export const HISTORY_SIZE = 50;

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("ajustes", { keyPath: "clave" });
        db.createObjectStore("cola", { keyPath: "id" }).createIndex("creada_en", "creada_en");
        db.createObjectStore("fotos", { keyPath: "id" }).createIndex("item", "item");
        db.createObjectStore("historial", { keyPath: "id" }).createIndex("enviada_en", "enviada_en");
      };
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close(); // a newer version of the app in another tab upgrades the database
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error("Cierre las otras pestañas de la app y vuelva a abrirla."));
    });
    opening.catch(() => {
      opening = null;
    });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("La operación en el teléfono se interrumpió."));
  });
}

function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transaction(stores, mode = "readonly") {
  const db = await open();
  return db.transaction(stores, mode, mode === "readwrite" ? { durability: "strict" } : undefined);
}

// -- settings --------------------------------------------------------------------------------------------------
export async function setting(key) {
  const tx = await transaction("ajustes");
  const entry = await result(tx.objectStore("ajustes").get(key));
  return entry ? entry.valor : null;
}

export async function saveSetting(key, valor) {
  const tx = await transaction("ajustes", "readwrite");
  tx.objectStore("ajustes").put({ clave: key, valor });
  await done(tx);
}

export async function deleteSetting(key) {
  const tx = await transaction("ajustes", "readwrite");
  tx.objectStore("ajustes").delete(key);
  await done(tx);
}

// -- the queue -------------------------------------------------------------------------------------------------
/** Every capture in the queue, oldest first. */
export async function items() {
  const tx = await transaction("cola");
  return result(tx.objectStore("cola").index("creada_en").getAll());
}

export async function item(id) {
  const tx = await transaction("cola");
  return result(tx.objectStore("cola").get(id));
}

/** A new capture and its photos, kept together or not at all. */
export async function addCapture(capture, photos) {
  const tx = await transaction(["cola", "fotos"], "readwrite");
  tx.objectStore("cola").add(capture);
  for (const photo of photos) tx.objectStore("fotos").add(photo);
  await done(tx);
}

export async function saveItem(value) {
  const tx = await transaction("cola", "readwrite");
  tx.objectStore("cola").put(value);
  await done(tx);
}

/** Change a queued capture in place (`change` gets the stored value and returns the new one, or null to leave it). */
export async function updateItem(id, change) {
  const tx = await transaction("cola", "readwrite");
  const store = tx.objectStore("cola");
  const current = await result(store.get(id));
  const next = current ? change(current) : null;
  if (next) store.put(next);
  await done(tx);
  return next;
}

/** Replace a rejected capture's data (the officer corrected it) and its photos. */
export async function replaceCapture(capture, photos, removedPhotoIds) {
  const tx = await transaction(["cola", "fotos"], "readwrite");
  tx.objectStore("cola").put(capture);
  for (const id of removedPhotoIds) tx.objectStore("fotos").delete(id);
  for (const photo of photos) tx.objectStore("fotos").add(photo);
  await done(tx);
}

export async function discard(id) {
  const tx = await transaction(["cola", "fotos"], "readwrite");
  tx.objectStore("cola").delete(id);
  const keys = await result(tx.objectStore("fotos").index("item").getAllKeys(id));
  for (const key of keys) tx.objectStore("fotos").delete(key);
  await done(tx);
}

// -- photos ----------------------------------------------------------------------------------------------------
export async function photosOf(itemId) {
  const tx = await transaction("fotos");
  const photos = await result(tx.objectStore("fotos").index("item").getAll(itemId));
  return photos.sort((a, b) => a.orden - b.orden);
}

export async function savePhoto(photo) {
  const tx = await transaction("fotos", "readwrite");
  tx.objectStore("fotos").put(photo);
  await done(tx);
}

export async function deletePhoto(id) {
  const tx = await transaction("fotos", "readwrite");
  tx.objectStore("fotos").delete(id);
  await done(tx);
}

// -- history ---------------------------------------------------------------------------------------------------
/** The server acknowledged the capture and all its photos: it leaves the queue for the history (last HISTORY_SIZE). */
export async function complete(id, entry) {
  const tx = await transaction(["cola", "fotos", "historial"], "readwrite");
  tx.objectStore("cola").delete(id);
  const photoKeys = await result(tx.objectStore("fotos").index("item").getAllKeys(id));
  for (const key of photoKeys) tx.objectStore("fotos").delete(key);
  const history = tx.objectStore("historial");
  history.put(entry);
  const keys = await result(history.index("enviada_en").getAllKeys());
  for (const key of keys.slice(0, Math.max(0, keys.length - HISTORY_SIZE))) history.delete(key);
  await done(tx);
}

/** The history, newest first. */
export async function history() {
  const tx = await transaction("historial");
  const entries = await result(tx.objectStore("historial").index("enviada_en").getAll());
  return entries.reverse();
}

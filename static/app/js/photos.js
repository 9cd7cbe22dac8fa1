// Photos from the camera, made ready for the server: it accepts JPEG and PNG (recognised by their bytes) up to
// MAX_BYTES. A JPEG or PNG within the limit is kept exactly as the camera made it (the server hashes what it gets);
// anything else (a HEIC, a photo over the limit) is redrawn as a JPEG that fits. Each photo gets a small thumbnail
// as a data: URL (the Content-Security-Policy allows data: images, not blob: ones).

export const MAX_BYTES = 5 * 1024 * 1024;
export const MAX_PHOTOS = 5;
const LARGEST_SIDE = 2560;
const THUMBNAIL_SIDE = 160;

async function sniff(blob) {
  const head = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((byte, i) => head[i] === byte)) return "image/png";
  return null;
}

function canvasOf(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("No se pudo convertir la foto."))), type, quality);
  });
}

async function decode(file) {
  try {
    return await createImageBitmap(file);
  } catch {
    throw new Error("El teléfono no pudo leer esa imagen. Saque la foto con la cámara o elija una JPEG o PNG.");
  }
}

async function redraw(file) {
  const bitmap = await decode(file);
  let scale = Math.min(1, LARGEST_SIDE / Math.max(bitmap.width, bitmap.height));
  try {
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const canvas = canvasOf(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await toBlob(canvas, "image/jpeg", 0.85);
      if (blob.size <= MAX_BYTES) return blob;
      scale *= 0.75;
    }
  } finally {
    bitmap.close();
  }
  throw new Error("La foto es demasiado grande aun reducida.");
}

async function thumbnail(blob) {
  const bitmap = await decode(blob);
  const scale = Math.min(1, THUMBNAIL_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = canvasOf(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL("image/jpeg", 0.7);
}

/** A photo ready to be queued: {blob, tipo, bytes, reducida, miniatura, nombre}. Throws an Error with a Spanish message. */
export async function preparePhoto(file) {
  const type = await sniff(file);
  // A copy of the bytes, not the File: a camera's file may be temporary, the queue's copy must not be.
  let blob = null;
  let reducida = false;
  if (type && file.size <= MAX_BYTES) {
    blob = new Blob([await file.arrayBuffer()], { type });
  } else {
    blob = await redraw(file);
    reducida = true;
  }
  const tipo = reducida ? "image/jpeg" : type;
  return { blob, tipo, bytes: blob.size, reducida, miniatura: await thumbnail(blob), nombre: file.name || "foto" };
}

export function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(".", ",")} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

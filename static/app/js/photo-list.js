// The capture form's photos: chosen from the camera (made ready by photos.js), shown as thumbnails, removable.

import { $, h, setError } from "./dom.js";
import { uuid } from "./ids.js";
import { MAX_PHOTOS, preparePhoto, sizeText } from "./photos.js";
import { state } from "./state.js";

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

function photoItem(photo, index) {
  return h(
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
  );
}

export function renderPhotos() {
  $("lista-fotos").replaceChildren(...state.photos.map(photoItem));
  $("fotos-ayuda").textContent = state.photos.length
    ? `${state.photos.length} de ${MAX_PHOTOS} fotos. Se suben después de registrar la infracción.`
    : `Hasta ${MAX_PHOTOS} fotos. Se suben después de registrar la infracción.`;
}

export function wirePhotos() {
  $("fotos").addEventListener("change", async (event) => {
    await addPhotos(event.target.files);
    event.target.value = "";
  });
}

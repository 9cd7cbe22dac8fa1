// What the screens share while the app is open: the session, the catalogue, the form's draft, which section is
// shown, and the one outbox that sends the queue. What must survive closing the app is in store.js.

import { Outbox } from "./outbox.js";

export const outbox = new Outbox();

export const state = {
  session: null,
  changingToken: false, // the officer asked to enrol another token while one is enrolled
  catalogue: [],
  catalogueDate: null,
  photos: [], // the form's photos: {key, blob, tipo, bytes, miniatura, reducida, guardada (an id already in the queue)}
  location: null,
  editing: null, // the rejected capture being corrected
  confirming: null, // id of the capture whose "Descartar" waits for a second tap
  timeEdited: false, // until the officer changes the time, it follows the clock (and is taken when saving)
  section: "captura",
};

// The owner picker on the vehicle form: type part of a persona's name or e-mail and choose her from
// a list (ARIA 1.2 combobox: the field keeps focus, arrows move through the options, Enter chooses,
// Escape closes). Choosing puts her e-mail in the field, which is what the form sends. Without
// JavaScript the field simply takes the e-mail. Suggestions come from /admin/personas/sugerencias
// (server-side, index-backed, at most a handful), so it works with any number of personas.
const DELAY_MS = 200;

for (const input of document.querySelectorAll("input[data-owner-picker]")) {
  const endpoint = input.dataset.ownerPicker;
  const field = input.closest(".field");
  const listId = `${input.id}-opciones`;
  const list = document.createElement("ul");
  list.id = listId;
  list.className = "picker-options";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Personas encontradas");
  list.hidden = true;
  const status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  field.classList.add("picker");
  field.append(list, status);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listId);
  const hint = document.getElementById(`${input.id}-hint`);
  if (hint) hint.textContent = "Escriba parte del nombre o del correo y elija a la persona de la lista (flechas y Enter). También puede escribir el correo completo.";

  let options = [];
  let active = -1;
  let timer = null;
  let asked = "";

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    active = index;
    list.querySelectorAll('[role="option"]').forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", `${listId}-${index}`);
      document.getElementById(`${listId}-${index}`).scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  const choose = (index) => {
    const persona = options[index];
    if (!persona) return;
    input.value = persona.correo;
    status.textContent = `Propietario: ${persona.nombre}, ${persona.correo}.`;
    close();
  };
  const show = (personas) => {
    options = personas;
    list.replaceChildren(
      ...personas.map((persona, i) => {
        const li = document.createElement("li");
        li.id = `${listId}-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        const name = document.createElement("span");
        name.className = "picker-name";
        name.textContent = persona.nombre;
        const mail = document.createElement("span");
        mail.className = "picker-mail";
        mail.textContent = persona.correo;
        li.append(name, " ", mail);
        li.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus in the field
        li.addEventListener("click", () => choose(i));
        return li;
      }),
    );
    const open = personas.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    active = -1;
    status.textContent = open
      ? `${personas.length === 1 ? "1 persona encontrada" : `${personas.length} personas encontradas`}; use las flechas para elegir.`
      : "Ninguna persona coincide. Puede registrarla con el botón «Registrar a una persona nueva».";
  };
  const ask = async () => {
    const q = input.value.trim();
    if (q === asked) return;
    asked = q;
    if (q.length < 2 || (q.includes("@") && q.split("@")[1].includes("."))) {
      close();
      options = [];
      return;
    }
    try {
      const response = await fetch(`${endpoint}?q=${encodeURIComponent(q)}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok || asked !== q) return;
      show((await response.json()).personas);
    } catch {
      close();
    }
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, DELAY_MS);
  });
  input.addEventListener("keydown", (event) => {
    const open = !list.hidden && options.length > 0;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!open && options.length) { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
      if (options.length) highlight((active + 1) % options.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (open) highlight(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault(); // choose, don't submit
      choose(active);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", close);
}

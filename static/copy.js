// "Copiar" buttons for the token shown once and its example (progressive enhancement: without
// JavaScript the text is in a read-only box to select by hand). Each <p class="copy-slot"
// data-copy-target="ID" data-copy-label="…"> becomes a button that copies the text of element ID.
const status = document.createElement("p");
status.className = "visually-hidden";
status.setAttribute("role", "status");
document.body.append(status);

for (const slot of document.querySelectorAll(".copy-slot[data-copy-target]")) {
  const target = document.getElementById(slot.dataset.copyTarget);
  if (!target) continue;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary copy";
  button.textContent = slot.dataset.copyLabel || "Copiar";
  button.addEventListener("click", async () => {
    const text = "value" in target ? target.value : target.textContent;
    try {
      await navigator.clipboard.writeText(text.trim());
      status.textContent = "Copiado al portapapeles.";
    } catch {
      if ("select" in target) target.select();
      status.textContent = "No se pudo copiar: el texto quedó seleccionado, cópielo con Ctrl+C.";
    }
    button.textContent = "Copiado";
    setTimeout(() => { button.textContent = slot.dataset.copyLabel || "Copiar"; }, 2500);
  });
  slot.append(button);
}

// "Seleccionar todas" for a list's bulk actions (progressive enhancement: without JavaScript each
// row's checkbox works on its own). Adds a checkbox to the header cell of the selection column.
for (const form of document.querySelectorAll("form.bulk")) {
  const header = form.querySelector("th.select");
  const boxes = [...form.querySelectorAll('tbody input[type="checkbox"][name="ids"]')];
  if (!header || boxes.length === 0) continue;
  const all = document.createElement("input");
  all.type = "checkbox";
  all.id = "seleccionar-todas";
  all.setAttribute("aria-label", "Seleccionar todas las filas de esta página");
  header.replaceChildren(all);
  const sync = () => {
    const checked = boxes.filter((b) => b.checked).length;
    all.checked = checked === boxes.length;
    all.indeterminate = checked > 0 && checked < boxes.length;
  };
  all.addEventListener("change", () => {
    for (const box of boxes) box.checked = all.checked;
    sync();
  });
  for (const box of boxes) box.addEventListener("change", sync);
  sync();
}

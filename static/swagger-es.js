// Swagger UI has no translations: this relabels its buttons and headings in Spanish after each
// render (a MutationObserver; a static file, as the Content-Security-Policy forbids inline scripts).
const LABELS = new Map([
  ["Try it out", "Probar"],
  ["Try it out ", "Probar"],
  ["Cancel", "Cancelar"],
  ["Execute", "Ejecutar"],
  ["Clear", "Limpiar"],
  ["Authorize", "Autorizar"],
  ["Logout", "Cerrar sesión"],
  ["Close", "Cerrar"],
  ["Parameters", "Parámetros"],
  ["Responses", "Respuestas"],
  ["Request body", "Cuerpo de la solicitud"],
  ["Request Body", "Cuerpo de la solicitud"],
  ["Schemas", "Esquemas"],
  ["Schema", "Esquema"],
  ["Example Value", "Valor de ejemplo"],
  ["Description", "Descripción"],
  ["Name", "Nombre"],
  ["Code", "Código"],
  ["Links", "Enlaces"],
  ["No links", "Sin enlaces"],
  ["No parameters", "Sin parámetros"],
  ["Media type", "Tipo de contenido"],
  ["Download", "Descargar"],
  ["Servers", "Servidores"],
  ["Available authorizations", "Autorizaciones disponibles"],
  ["Server response", "Respuesta del servidor"],
  ["Response body", "Cuerpo de la respuesta"],
  ["Response headers", "Encabezados de la respuesta"],
  ["Request URL", "URL de la solicitud"],
  ["Details", "Detalles"],
  ["required", "obligatorio"],
]);
const SELECTOR = "button, h4, h3 span, .opblock-section-header label span, .tab-header .tablinks, .responses-inner h4, .responses-inner h5, th, .parameter__name .required, .model-box-control span, .tab li button, span";

function relabel(root) {
  for (const element of root.querySelectorAll(SELECTOR)) {
    if (element.children.length > 0 && element.tagName !== "BUTTON") continue;
    for (const node of element.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      const text = node.textContent.trim();
      if (LABELS.has(text)) node.textContent = node.textContent.replace(text, LABELS.get(text));
    }
  }
}

const root = document.getElementById("swagger-ui");
if (root) {
  relabel(root);
  new MutationObserver(() => relabel(root)).observe(root, { childList: true, subtree: true });
}

// A capture the server refused (4xx): which form field it names, and what the officer can do about it.

const FIELDS = { placa_patente: "placa", timestamp: "momento", codigo: "codigo", comentarios: "comentarios" };
const FIELD_NAMES = { placa_patente: "Placa patente", timestamp: "Fecha y hora", codigo: "Infracción", comentarios: "Comentarios" };

/** The Spanish name of a field of the API's body, as the officer knows it. */
export function fieldName(field) {
  if (field.startsWith("ubicacion")) return "Ubicación";
  return FIELD_NAMES[field] || field;
}

/** The id of the form's input that the refusal names first, or null. */
export function fieldOf(rejection) {
  const named = ((rejection && rejection.errores) || []).map((error) => FIELDS[error.campo]).find(Boolean);
  return named || null;
}

/** What the officer can do about a refusal, in the server's terms. */
export function advice(rejection) {
  const fields = (rejection.errores || []).map((error) => error.campo);
  if (fields.includes("placa_patente") && rejection.status === 404) {
    return "Revise la placa patente. Si está mal escrita, corríjala y vuelva a enviarla; si está bien, el vehículo no está registrado: descarte esta infracción e infórmelo a la administración.";
  }
  if (fields.includes("placa_patente")) return "Corrija la placa patente y vuelva a enviarla.";
  if (fields.includes("codigo")) return "Elija otra infracción del catálogo (o ninguna) y vuelva a enviarla.";
  if (fields.includes("timestamp")) return "Corrija la fecha y hora y vuelva a enviarla, o descártela si ya no se puede registrar.";
  if (fields.some((field) => field.startsWith("ubicacion"))) return "Quite la ubicación y vuelva a enviarla.";
  if (fields.includes("comentarios")) return "Corrija los comentarios y vuelva a enviarla.";
  return "Corrija los datos y vuelva a enviarla, o descártela.";
}

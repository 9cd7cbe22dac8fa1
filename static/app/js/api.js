// The server's API as the app uses it (same origin: no CORS). Every answer is sorted into what the app does next:
//   ok         2xx with a JSON body: done
//   sin-cambios 304: the copy on the phone is current
//   token      401: the token is missing, expired or revoked; ask the officer for a new one
//   rechazo    any other 4xx: the server refused the data (its Spanish `detail` and field `errors` say why)
//   reintentar 408, 429, 5xx, or a 2xx that is not our JSON (a captive portal): try again later
//   red        no answer at all (no signal, connection cut, timeout): try again later

const TIMEOUT_MS = 30_000;

async function call(path, { token, method = "GET", body, headers = {} }) {
  let response;
  try {
    response = await fetch(path, {
      method,
      body,
      headers: { Accept: "application/json", ...headers, Authorization: `Bearer ${token}` },
      cache: "no-store",
      credentials: "omit", // the admin's cookies have no business here
      redirect: "error", // a portal redirecting us is not our server
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    return { tipo: "red", detalle: "No hubo respuesta del servidor (sin señal o conexión interrumpida)." };
  }
  if (response.status === 304) return { tipo: "sin-cambios", status: 304 };
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const status = response.status;
  if (status >= 200 && status < 300) {
    if (data && typeof data === "object") {
      return {
        tipo: "ok",
        status,
        data,
        repetida: response.headers.get("Idempotent-Replayed") === "true",
        etag: response.headers.get("ETag"),
      };
    }
    return { tipo: "reintentar", status, detalle: "La respuesta del servidor llegó incompleta." };
  }
  const detalle = (data && typeof data.detail === "string" && data.detail) || `El servidor respondió ${status}.`;
  const errores = data && Array.isArray(data.errors) ? data.errors.filter((e) => e && typeof e.mensaje === "string") : [];
  if (status === 401) return { tipo: "token", status, detalle };
  if (status === 408 || status === 429 || status >= 500) {
    const wait = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return { tipo: "reintentar", status, detalle, esperarSegundos: Number.isFinite(wait) ? wait : null };
  }
  return { tipo: "rechazo", status, detalle, errores, solicitud: data && data.request_id };
}

/** GET /api/yo: the officer and the token this phone is enrolled with. */
export function whoAmI(token) {
  return call("/api/yo", { token });
}

/** GET /api/catalogo, revalidated with the ETag of the copy on the phone. */
export function catalogue(token, etag) {
  return call("/api/catalogo", { token, headers: etag ? { "If-None-Match": etag } : {} });
}

/** POST /api/cargar_infraccion with the key made at capture time: a retry is answered with the original. */
export function loadInfraction(token, idempotencyKey, body) {
  return call("/api/cargar_infraccion", {
    token,
    method: "POST",
    body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
  });
}

/** POST /api/infracciones/{id}/evidencias: the photo's bytes (the server answers a repeat with the first upload). */
export function uploadPhoto(token, infractionId, blob, type) {
  return call(`/api/infracciones/${encodeURIComponent(infractionId)}/evidencias`, {
    token,
    method: "POST",
    body: blob,
    headers: { "Content-Type": type },
  });
}

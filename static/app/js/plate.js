// Plates as the server reads them: the same rule as domain/rules.py (normalize_plate, is_valid_plate) and the same
// Spanish texts as the admin's form (handlers/forms.py); tests/e2e/test_e2e_officer_app.py checks both against Python.

export const PLATE_HINT = "Letras y números; se guarda en mayúsculas sin espacios ni guiones (ej. BBCD12).";
export const PLATE_MESSAGE = "La placa patente debe tener entre 5 y 8 letras o números (sin contar espacios ni guiones).";

const SEPARATORS = /[ \-.·]+/gu; // rules.PLATE_SEPARATORS: spaces, dashes, dots and middle dots
const PLATE = /^[A-Z0-9]{5,8}$/;
const ASCII = /^[\x00-\x7f]*$/;

/** 'ab-cd 12' -> 'ABCD12': without spaces, dashes, dots or middle dots, and upper case when it is ASCII (upper-casing
 * 'ß' or 'ı' would turn a typing error into somebody else's plate: anything non-ASCII stays, and is refused). */
export function normalizePlate(raw) {
  const plate = raw.replace(SEPARATORS, "");
  return ASCII.test(plate) ? plate.toUpperCase() : plate;
}

/** Whether an already normalised plate is well formed: 5 to 8 ASCII letters or digits. */
export function isValidPlate(plate) {
  return PLATE.test(plate);
}

// Times as the officer sees them (the phone's zone) and as the API wants them (ISO 8601 with the offset).

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** The value of an <input type="datetime-local" step="1"> for `date`, in the phone's zone. */
export function inputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The moment an <input type="datetime-local"> names (read in the phone's zone), or null. */
export function fromInput(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const date = new Date(value); // a date-time without an offset is local time
  return Number.isNaN(date.getTime()) ? null : date;
}

/** ISO 8601 with the phone's offset at that moment: 2026-11-24T14:30:05-03:00. */
export function isoWithOffset(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const offset = `${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  return `${inputValue(date)}${offset}`;
}

/** 24-11-2026 14:30, as the admin writes times. */
export function formatLocal(value, { seconds = false } = {}) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "—";
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}${seconds ? `:${pad(date.getSeconds())}` : ""}`;
  return `${pad(date.getDate())}-${pad(date.getMonth() + 1)}-${date.getFullYear()} ${time}`;
}

/** 14:30:05 */
export function formatClock(value) {
  const date = value instanceof Date ? value : new Date(value);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function zoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

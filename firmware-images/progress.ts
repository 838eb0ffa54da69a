// The progress line of `fleet os flash`: bytes written, share of the total when known, and rate.
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`;
}

/** "120.0 MiB of 400.0 MiB (30%), 25.0 MiB/s"; the total is unknown while a compressed image streams. */
export function formatProgress(
  verb: string,
  bytes: number,
  total: number | null,
  elapsedMs: number,
): string {
  const share =
    total !== null && total > 0
      ? ` of ${formatBytes(total)} (${Math.floor((bytes / total) * 100)}%)`
      : '';
  const rate = elapsedMs > 0 ? `, ${formatBytes(Math.round((bytes * 1000) / elapsedMs))}/s` : '';
  return `${verb} ${formatBytes(bytes)}${share}${rate}`;
}

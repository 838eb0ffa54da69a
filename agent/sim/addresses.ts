// Names and loopback addresses of simulated boards: board n of a run is always called and reached the same way.

/** The first board is number 1; names are `<prefix>-0001` and grow a digit past 9999 boards. */
export function boardName(prefix: string, n: number, count: number): string {
  return `${prefix}-${String(n).padStart(Math.max(4, String(count).length), '0')}`;
}

/** How each board gets the address it advertises (and binds its ingress ports on). */
export type AddressPlan = { kind: 'shared'; address: string } | { kind: 'base'; base: number };

/** Usable host numbers in each /24: .1 to .254, so no board looks like a network or broadcast address. */
const HOSTS_PER_BLOCK = 254;

/**
 * Board n's address. With a base such as 127.1.0.0, boards 1…254 get 127.1.0.1…127.1.0.254,
 * boards 255…508 get 127.1.1.1…127.1.1.254, and so on; with a shared address every board
 * advertises that one (published ports then collide between boards).
 */
export function boardAddress(plan: AddressPlan, n: number): string {
  if (plan.kind === 'shared') return plan.address;
  const block = Math.floor((n - 1) / HOSTS_PER_BLOCK);
  const host = ((n - 1) % HOSTS_PER_BLOCK) + 1;
  return formatIpv4(plan.base + block * 256 + host);
}

/** The highest board number a base leaves room for inside 127.0.0.0/8. */
export function boardsFitting(base: number): number {
  const lastBlock = 0x7fffff00; // 127.255.255.0: its .1 … .254 are the last usable
  const blocks = Math.floor((lastBlock - base) / 256) + 1;
  return blocks * HOSTS_PER_BLOCK;
}

/** A loopback address (127.x.y.z) as a number, or a reason it is not one. */
export function parseLoopback(
  text: string,
): { ok: true; value: number } | { ok: false; reason: string } {
  const parts = text.split('.');
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255)))
    return { ok: false, reason: `"${text}" is not an IPv4 address` };
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  if (a !== 127)
    return {
      ok: false,
      reason: `"${text}" is not a loopback address (127.x.y.z): simulated boards live on this machine`,
    };
  return { ok: true, value: ((a * 256 + b) * 256 + c) * 256 + d };
}

/** `--address-base`: a loopback address ending in .0, where the first block of boards starts. */
export function parseAddressBase(
  text: string,
): { ok: true; value: number } | { ok: false; reason: string } {
  const r = parseLoopback(text);
  if (!r.ok) return r;
  if (r.value % 256 !== 0)
    return {
      ok: false,
      reason: `--address-base must end in .0 (boards take .1 to .254 of each block), got "${text}"`,
    };
  return r;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
